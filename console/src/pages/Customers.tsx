import { useEffect, useState } from "react";
import { Button, Card, Form, Input, Space, Table, Tag } from "antd";
import { useNavigate } from "react-router-dom";
import { get } from "../api";
import { ErrorNote } from "../components/Missing";
import { useI18n } from "../i18n";

export interface Customer {
  customer_id: number;
  org_id: string;
  org_path: string;
  rm_id: string | null;
  gender: string | null;
  birth_date: string | null;
  city: string | null;
  occupation: string | null;
  kyc_risk_level: number | null;
  opened_on: string;
  is_active: boolean;
  dnd: boolean;
  name: string | null;
  phone: string | null;
  email: string | null;
  id_number: string | null;
}

interface Page {
  total: number;
  offset: number;
  items: Customer[];
}

export default function Customers() {
  const { t } = useI18n();
  const nav = useNavigate();
  const [filter, setFilter] = useState<Record<string, string>>({});
  const [page, setPage] = useState(1);
  const [data, setData] = useState<Page | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const q = new URLSearchParams({ offset: String((page - 1) * 20), limit: "20" });
    for (const [k, v] of Object.entries(filter)) if (v) q.set(k, v);
    setError(null);
    get<Page>(`/api/v1/customers?${q}`).then(setData, setError);
  }, [filter, page]);
  const onSearch = (v: { customer_id?: string; org_id?: string; city?: string; rm_id?: string }) => {
    if (v.customer_id) return nav(`/customers/${v.customer_id.trim()}`);
    setPage(1);
    setFilter({ org_id: v.org_id ?? "", city: v.city ?? "", rm_id: v.rm_id ?? "" });
  };
  return (
    <Card title={t("客户查询")}>
      <Form layout="inline" onFinish={onSearch} style={{ marginBottom: 16 }}>
        <Form.Item name="customer_id" label={t("客户号")}>
          <Input allowClear style={{ width: 140 }} data-testid="search-id" />
        </Form.Item>
        <Form.Item name="org_id" label={t("机构")}>
          <Input allowClear style={{ width: 120 }} />
        </Form.Item>
        <Form.Item name="city" label={t("城市")}>
          <Input allowClear style={{ width: 120 }} />
        </Form.Item>
        <Form.Item name="rm_id" label={t("客户经理")}>
          <Input allowClear style={{ width: 120 }} />
        </Form.Item>
        <Button type="primary" htmlType="submit">
          {t("搜索")}
        </Button>
      </Form>
      <ErrorNote error={error} />
      <Table<Customer>
        rowKey="customer_id"
        size="small"
        dataSource={data?.items ?? []}
        loading={!data && !error}
        pagination={{ current: page, pageSize: 20, total: data?.total ?? 0, onChange: setPage, showSizeChanger: false }}
        onRow={(r) => ({ onClick: () => nav(`/customers/${r.customer_id}`), style: { cursor: "pointer" } })}
        columns={[
          { title: t("客户号"), dataIndex: "customer_id" },
          { title: t("姓名"), dataIndex: "name" },
          { title: t("手机"), dataIndex: "phone" },
          { title: t("机构"), dataIndex: "org_id" },
          { title: t("城市"), dataIndex: "city" },
          { title: t("客户经理"), dataIndex: "rm_id" },
          { title: t("开户日期"), dataIndex: "opened_on" },
          {
            title: t("状态"),
            render: (_, r) => (
              <Space>
                {r.is_active ? <Tag color="green">{t("正常")}</Tag> : <Tag>{t("流失客户")}</Tag>}
                {r.dnd && <Tag color="orange">{t("免打扰")}</Tag>}
              </Space>
            ),
          },
        ]}
      />
    </Card>
  );
}
