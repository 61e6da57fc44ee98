import { useEffect, useState } from "react";
import { Card, Col, Descriptions, Row, Skeleton, Table, Tag } from "antd";
import { useParams } from "react-router-dom";
import { get } from "../api";
import { ErrorNote } from "../components/Missing";
import { useI18n } from "../i18n";
import type { Customer } from "./Customers";

type Contact = Record<string, unknown>;

export default function CustomerProfile() {
  const { t } = useI18n();
  const { id } = useParams();
  const [c, setC] = useState<Customer | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [contacts, setContacts] = useState<Contact[] | null>(null);
  const [contactError, setContactError] = useState<unknown>(null);
  useEffect(() => {
    setC(null);
    setError(null);
    get<Customer>(`/api/v1/customers/${encodeURIComponent(id ?? "")}`).then(setC, setError);
    get<Contact[]>(`/api/v1/contacts?customer_id=${encodeURIComponent(id ?? "")}&limit=50`).then(setContacts, setContactError);
  }, [id]);
  if (error) return <ErrorNote error={error} />;
  if (!c) return <Skeleton active />;
  const columns = contacts && contacts.length ? Object.keys(contacts[0]).slice(0, 8) : [];
  return (
    <Row gutter={[16, 16]} data-testid="profile">
      <Col span={24}>
        <Card title={`${t("客户360")} · ${c.customer_id}`}>
          <Descriptions column={3} size="small" bordered>
            <Descriptions.Item label={t("姓名")}>{c.name ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("手机")}>{c.phone ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("邮箱")}>{c.email ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("证件号")}>{c.id_number ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("性别")}>{c.gender ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("城市")}>{c.city ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("机构")}>{c.org_path}</Descriptions.Item>
            <Descriptions.Item label={t("客户经理")}>{c.rm_id ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("风险等级")}>{c.kyc_risk_level ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("开户日期")}>{c.opened_on}</Descriptions.Item>
            <Descriptions.Item label={t("状态")}>
              {c.is_active ? <Tag color="green">{t("正常")}</Tag> : <Tag>{t("流失客户")}</Tag>}
              {c.dnd && <Tag color="orange">{t("免打扰")}</Tag>}
            </Descriptions.Item>
          </Descriptions>
        </Card>
      </Col>
      <Col span={24}>
        <Card title={t("接触历史")}>
          <ErrorNote error={contactError} />
          {contacts && (
            <Table
              size="small"
              rowKey={(_, i) => String(i)}
              dataSource={contacts}
              pagination={false}
              columns={columns.map((k) => ({ title: k, dataIndex: k, render: (v: unknown) => String(v ?? "") }))}
              locale={{ emptyText: t("暂无数据") }}
            />
          )}
        </Card>
      </Col>
    </Row>
  );
}
