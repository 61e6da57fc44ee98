// Tag catalogue (标签目录): the category tree on the left, the tags of the chosen subtree
// with their last run's coverage, and the chosen tag's distribution.
import { useEffect, useMemo, useState } from "react";
import { Card, Col, Descriptions, Empty, Input, Progress, Row, Table, Tag, Tree } from "antd";
import { get } from "../api";
import { Chart } from "../components/Chart";
import { ErrorNote } from "../components/Missing";
import { percent } from "../format";
import { useI18n } from "../i18n";
import { categoryTree, distributionRows, inCategory, type CategoryNode, type TagInfo } from "../insight";

interface TreeItem {
  key: string;
  title: string;
  children: TreeItem[];
}

const asTree = (nodes: CategoryNode[]): TreeItem[] =>
  nodes.map((n) => ({ key: n.key, title: `${n.title} (${n.count})`, children: asTree(n.children) }));

const TAG_TYPE_ZH: Record<string, string> = { statistic: "统计", rule: "规则", model: "模型", manual: "手工", enum: "枚举", number: "数值", bool: "是否", text: "文本" };

export default function Tags() {
  const { t } = useI18n();
  const [tags, setTags] = useState<TagInfo[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [category, setCategory] = useState<string | null>(null);
  const [query, setQuery] = useState("");
  const [chosen, setChosen] = useState<string | null>(null);
  useEffect(() => {
    get<TagInfo[]>("/api/v1/tags").then(setTags, setError);
  }, []);
  const tree = useMemo(() => asTree(categoryTree(tags ?? [])), [tags]);
  const shown = (tags ?? []).filter(
    (tag) => inCategory(tag, category) && (query === "" || `${tag.name} ${tag.title}`.toLowerCase().includes(query.toLowerCase())),
  );
  const tag = (tags ?? []).find((x) => x.name === chosen) ?? null;
  return (
    <Row gutter={16}>
      <Col span={5}>
        <Card title={t("标签分类")} size="small">
          <ErrorNote error={error} />
          {tags && tags.length === 0 ? (
            <Empty description={t("暂无标签")} />
          ) : tags === null ? null : (
            <Tree
              data-testid="tag-tree"
              defaultExpandAll
              treeData={[{ key: "*", title: `${t("全部")} (${tags?.length ?? 0})`, children: tree }]}
              selectedKeys={[category ?? "*"]}
              onSelect={(keys) => setCategory(keys.length === 0 || keys[0] === "*" ? null : String(keys[0]))}
            />
          )}
        </Card>
      </Col>
      <Col span={11}>
        <Card title={t("标签目录")} size="small" extra={<Input.Search allowClear placeholder={t("搜索")} onSearch={setQuery} style={{ width: 200 }} />}>
          <Table<TagInfo>
            size="small"
            rowKey="name"
            loading={tags === null && !error}
            dataSource={shown}
            data-testid="tag-table"
            pagination={{ pageSize: 20, hideOnSinglePage: true }}
            onRow={(r) => ({ onClick: () => setChosen(r.name), style: { cursor: "pointer" } })}
            rowClassName={(r) => (r.name === chosen ? "ant-table-row-selected" : "")}
            columns={[
              { title: t("名称"), dataIndex: "title", render: (v: string, r) => <span data-testid={`tag-${r.name}`}>{v || r.name}</span> },
              { title: t("分类"), dataIndex: "category" },
              { title: t("类型"), dataIndex: "type", render: (v: string, r) => <Tag title={`${v} · ${r.value_type}`}>{`${TAG_TYPE_ZH[v] ? t(TAG_TYPE_ZH[v]) : v} · ${TAG_TYPE_ZH[r.value_type] ? t(TAG_TYPE_ZH[r.value_type]) : r.value_type}`}</Tag> },
              {
                title: t("覆盖率"),
                key: "coverage",
                render: (_: unknown, r) =>
                  r.last_run ? <Progress percent={Math.round(r.last_run.coverage * 1000) / 10} format={(p) => `${p}%`} size="small" data-testid={`coverage-${r.name}`} /> : t("未运行"),
              },
            ]}
          />
        </Card>
      </Col>
      <Col span={8}>
        <Card title={tag ? tag.title || tag.name : t("标签详情")} size="small" data-testid="tag-detail">
          {tag ? <TagDetail tag={tag} /> : <Empty description={t("选择一个标签")} />}
        </Card>
      </Col>
    </Row>
  );
}

function TagDetail({ tag }: { tag: TagInfo }) {
  const { t } = useI18n();
  const run = tag.last_run;
  const dist = run ? distributionRows(run.distribution) : null;
  return (
    <>
      <Descriptions size="small" column={1} bordered>
        <Descriptions.Item label={t("标签编码")}>{tag.name}</Descriptions.Item>
        <Descriptions.Item label={t("负责人")}>{tag.owner}</Descriptions.Item>
        <Descriptions.Item label={t("更新计划")}>{tag.schedule ?? "—"}</Descriptions.Item>
        <Descriptions.Item label={t("说明")}>{tag.description || "—"}</Descriptions.Item>
        {run && (
          <>
            <Descriptions.Item label={t("最近运行")}>{run.as_of}</Descriptions.Item>
            <Descriptions.Item label={t("有值客户")}>
              <span data-testid="tag-with-value">{`${run.with_value.toLocaleString()} / ${run.customers.toLocaleString()} (${percent(run.coverage)})`}</span>
            </Descriptions.Item>
          </>
        )}
      </Descriptions>
      {dist?.kind === "counts" && (
        <div style={{ marginTop: 16 }}>
        <Chart
          testId="chart-tag-distribution"
          height={260}
          option={{
            tooltip: { trigger: "axis" },
            grid: { left: 60, right: 16, top: 36, bottom: 30 },
            xAxis: { type: "category", data: dist.rows.map((r) => r.label) },
            yAxis: { type: "value", name: t("人数") },
            series: [{ type: "bar", data: dist.rows.map((r) => r.customers), itemStyle: { color: "#c8102e" }, label: { show: true, position: "top" } }],
          }}
        />
        </div>
      )}
      {dist?.kind === "stats" && (
        <Table
          size="small"
          rowKey="stat"
          pagination={false}
          style={{ marginTop: 12 }}
          data-testid="tag-stats"
          dataSource={dist.rows}
          columns={[
            { title: t("统计量"), dataIndex: "stat" },
            { title: t("值"), dataIndex: "value", render: (v: number) => v.toLocaleString(undefined, { maximumFractionDigits: 2 }) },
          ]}
        />
      )}
      {!run && <Empty description={t("未运行")} />}
    </>
  );
}
