// The side panel's form for one node: fields generated per node kind (no raw JSON), the
// policy-block behaviour of actions, and the API's validation error on the field it names.
import { useEffect, useRef, useState, type ReactNode } from "react";
import { Alert, Button, Form, Input, InputNumber, Radio, Select, Space, Switch, Typography } from "antd";
import { MinusCircleOutlined, PlusOutlined } from "@ant-design/icons";
import { get } from "../api";
import { useI18n } from "../i18n";
import { CHANNELS } from "../journey";
import { fromFormValues, toFormValues, type FormValues } from "../nodeForm";
import { FIELDS, FIELD_LABELS, OPS } from "../segment";

type Cfg = Record<string, unknown>;
type Name = (string | number)[];

export interface Options {
  segments: { value: string; label: string }[];
  templates: { value: string; label: string; channel: string }[];
  benefits: { value: string; label: string }[];
}

/** The pickers' choices (saved segments, templates, benefits), fetched once per canvas;
 *  a list the caller may not read stays empty and the field still takes a typed id. */
export function useOptions(): Options {
  const [opts, setOpts] = useState<Options>({ segments: [], templates: [], benefits: [] });
  useEffect(() => {
    get<{ items: { segment_id: string; name: string }[] }>("/api/v1/segments").then(
      (r) => setOpts((o) => ({ ...o, segments: r.items.map((s) => ({ value: s.segment_id, label: `${s.name} (${s.segment_id})` })) })),
      () => undefined,
    );
    get<{ template_id: string; channel: string; body: string }[]>("/api/v1/reach/templates").then(
      (r) => setOpts((o) => ({ ...o, templates: r.map((t) => ({ value: t.template_id, label: t.template_id, channel: t.channel })) })),
      () => undefined,
    );
    get<{ definition: { id: string; name: string } }[]>("/api/v1/benefits").then(
      (r) => setOpts((o) => ({ ...o, benefits: r.map((b) => ({ value: b.definition.id, label: `${b.definition.name} (${b.definition.id})` })) })),
      () => undefined,
    );
  }, []);
  return opts;
}

const UNITS = ["minutes", "hours", "days", "business_days"];
const UNIT_ZH: Record<string, string> = { minutes: "分钟", hours: "小时", days: "天", business_days: "工作日" };

function Duration({ name, label, testid }: { name: Name; label: string; testid?: string }) {
  const { t } = useI18n();
  return (
    <Form.Item label={t(label)} required style={{ marginBottom: 8 }}>
      <Space.Compact>
        <Form.Item name={[...name, "amount"]} noStyle rules={[{ required: true }]}>
          <InputNumber min={1} style={{ width: 90 }} data-testid={testid ? `${testid}-amount` : undefined} />
        </Form.Item>
        <Form.Item name={[...name, "unit"]} noStyle initialValue="days">
          <Select style={{ width: 100 }} options={UNITS.map((u) => ({ value: u, label: t(UNIT_ZH[u]) }))} />
        </Form.Item>
      </Space.Compact>
    </Form.Item>
  );
}

/** An attribute or tag condition; other kinds (built in the segment builder) are kept. */
function Condition({ name, kind }: { name: Name; kind: unknown }) {
  const { t } = useI18n();
  const form = Form.useFormInstance();
  const field = Form.useWatch([...name, "field"], form) as string | undefined;
  if (kind !== undefined && kind !== "attribute" && kind !== "tag") {
    return <Alert type="info" message={`${t("复合条件，请在客群圈选中编辑")} (${String(kind)})`} />;
  }
  const ops = OPS[FIELDS[field ?? ""] ?? "text"];
  return (
    <>
      <Form.Item name={[...name, "kind"]} label={t("条件类型")} initialValue="attribute" style={{ marginBottom: 8 }}>
        <Radio.Group
          options={[
            { value: "attribute", label: t("属性条件") },
            { value: "tag", label: t("标签条件") },
          ]}
        />
      </Form.Item>
      {kind === "tag" ? (
        <Form.Item name={[...name, "tag"]} label={t("标签")} rules={[{ required: true }]} style={{ marginBottom: 8 }}>
          <Input data-testid="form-cond-tag" />
        </Form.Item>
      ) : (
        <Form.Item name={[...name, "field"]} label={t("字段")} rules={[{ required: true }]} style={{ marginBottom: 8 }}>
          <Select
            showSearch
            data-testid="form-cond-field"
            options={Object.keys(FIELDS).map((f) => ({ value: f, label: `${t(FIELD_LABELS[f] ?? f)} (${f})` }))}
          />
        </Form.Item>
      )}
      <Form.Item name={[...name, "op"]} label={t("运算")} rules={[{ required: true }]} style={{ marginBottom: 8 }}>
        <Select data-testid="form-cond-op" options={(kind === "tag" ? ["=", "!=", ">", ">=", "<", "<="] : ops).map((o) => ({ value: o, label: o }))} />
      </Form.Item>
      <Form.Item name={[...name, "value"]} label={t("取值")} style={{ marginBottom: 8 }}>
        <Input data-testid="form-cond-value" />
      </Form.Item>
    </>
  );
}

/** A repeated row (A/B arms, score bands, split cases) with add and remove. */
function Rows({ name, label, blank, children }: { name: Name; label: string; blank: Cfg; children: (n: number) => ReactNode }) {
  const { t } = useI18n();
  return (
    <Form.Item label={t(label)} style={{ marginBottom: 8 }}>
      <Form.List name={name}>
        {(fields, { add, remove }) => (
          <>
            {fields.map((f) => (
              <Space key={f.key} align="baseline" size={4}>
                {children(f.name)}
                <MinusCircleOutlined onClick={() => remove(f.name)} />
              </Space>
            ))}
            <Button size="small" type="dashed" icon={<PlusOutlined />} onClick={() => add(structuredClone(blank))} data-testid={`add-${name.join("-")}`}>
              {t("添加")}
            </Button>
          </>
        )}
      </Form.List>
    </Form.Item>
  );
}

const item = (name: Name, rules = true) => ({ name, noStyle: true, rules: rules ? [{ required: true }] : [] });

function KindFields({ kind, options, values }: { kind: string; options: Options; values: FormValues }) {
  const { t } = useI18n();
  const form = Form.useFormInstance();
  const ui = (Form.useWatch("ui", form) as Record<string, string> | undefined) ?? values.ui;
  const condKind = Form.useWatch(["config", "condition", "kind"], form) ?? (values.config.condition as Cfg | undefined)?.kind;
  const rootKind =
    Form.useWatch(["config", "segment", "root", "kind"], form) ?? ((values.config.segment as Cfg | undefined)?.root as Cfg | undefined)?.kind;
  const channel = Form.useWatch(["config", "channel"], form) as string | undefined;
  const text = (name: Name, label: string, testid?: string, required = true) => (
    <Form.Item name={name} label={t(label)} rules={required ? [{ required: true }] : []} style={{ marginBottom: 8 }}>
      <Input data-testid={testid} />
    </Form.Item>
  );
  const num = (name: Name, label: string, props: Record<string, unknown> = {}) => (
    <Form.Item name={name} label={t(label)} style={{ marginBottom: 8 }}>
      <InputNumber style={{ width: "100%" }} {...props} />
    </Form.Item>
  );
  switch (kind) {
    case "segment_entry":
      return (
        <>
          <Form.Item name={["ui", "source"]} label={t("客群来源")} style={{ marginBottom: 8 }}>
            <Radio.Group
              options={[
                { value: "saved", label: t("已保存客群") },
                { value: "inline", label: t("自定义条件") },
              ]}
            />
          </Form.Item>
          {ui.source === "saved" ? (
            <Form.Item name={["config", "segment_id"]} label={t("客群")} rules={[{ required: true }]} style={{ marginBottom: 8 }}>
              <Select showSearch options={options.segments} data-testid="form-segment-id" />
            </Form.Item>
          ) : (
            <>
              {text(["config", "segment", "name"], "客群名称", "form-segment-name")}
              <Condition name={["config", "segment", "root"]} kind={rootKind} />
            </>
          )}
          <Form.Item name={["ui", "schedule"]} label={t("进入方式")} style={{ marginBottom: 8 }}>
            <Radio.Group
              options={[
                { value: "once", label: t("启动时一次") },
                { value: "cron", label: t("定时 (cron)") },
              ]}
            />
          </Form.Item>
          {ui.schedule === "cron" && text(["config", "schedule"], "cron 表达式", "form-cron")}
        </>
      );
    case "event_entry":
      return text(["config", "trigger", "event"], "触发事件", "form-event");
    case "api_entry":
      return text(["config", "source"], "来源系统", "form-source");
    case "file_entry":
      return (
        <>
          <Form.Item
            name={["config", "id_column"]}
            label={t("客户号列名")}
            extra={t("表头含客户号列的 CSV，或每行一个客户号")}
            rules={[{ required: true }]}
            style={{ marginBottom: 8 }}
          >
            <Input data-testid="form-id-column" />
          </Form.Item>
          {num(["config", "max_rows"], "最多行数", { min: 1, max: 1000000, "data-testid": "form-max-rows" })}
        </>
      );
    case "condition":
      return <Condition name={["config", "condition"]} kind={condKind} />;
    case "attribute_split":
      return (
        <>
          <Form.Item name={["ui", "by"]} label={t("分流依据")} style={{ marginBottom: 8 }}>
            <Radio.Group
              options={[
                { value: "field", label: t("属性") },
                { value: "tag", label: t("标签") },
              ]}
            />
          </Form.Item>
          {ui.by === "tag" ? (
            text(["config", "tag"], "标签")
          ) : (
            <Form.Item name={["config", "field"]} label={t("字段")} rules={[{ required: true }]} style={{ marginBottom: 8 }}>
              <Select showSearch options={Object.keys(FIELDS).map((f) => ({ value: f, label: `${t(FIELD_LABELS[f] ?? f)} (${f})` }))} />
            </Form.Item>
          )}
          <Rows name={["config", "cases"]} label="分支" blank={{ branch: "", values: [] }}>
            {(n) => (
              <>
                <Form.Item {...item([n, "branch"])}>
                  <Input placeholder={t("分支名")} style={{ width: 90 }} />
                </Form.Item>
                <Form.Item {...item([n, "values"])}>
                  <Select mode="tags" placeholder={t("取值")} style={{ width: 130 }} />
                </Form.Item>
              </>
            )}
          </Rows>
        </>
      );
    case "wait_event":
      return (
        <>
          {text(["config", "event", "event"], "等待的事件", "form-event")}
          <Duration name={["config", "timeout"]} label="超时" />
        </>
      );
    case "ab_split":
      return (
        <>
          <Rows name={["config", "arms"]} label="实验组" blank={{ name: "", weight: 1 }}>
            {(n) => (
              <>
                <Form.Item {...item([n, "name"])}>
                  <Input placeholder={t("组名")} style={{ width: 100 }} />
                </Form.Item>
                <Form.Item {...item([n, "weight"])}>
                  <InputNumber min={0.01} placeholder={t("权重")} style={{ width: 80 }} />
                </Form.Item>
              </>
            )}
          </Rows>
          {num(["config", "holdout"], "保留组比例 (0–1)", { min: 0, max: 0.99, step: 0.05 })}
        </>
      );
    case "score_split":
      return (
        <>
          <Form.Item name={["config", "model"]} label={t("模型")} rules={[{ required: true }]} style={{ marginBottom: 8 }}>
            <Select
              options={[
                { value: "churn", label: t("流失预警") },
                { value: "propensity", label: t("高潜客户") },
              ]}
            />
          </Form.Item>
          <Rows name={["config", "bands"]} label="分数段 [低, 高)" blank={{ branch: "", low: 0, high: 1 }}>
            {(n) => (
              <>
                <Form.Item {...item([n, "branch"])}>
                  <Input placeholder={t("分支名")} style={{ width: 80 }} />
                </Form.Item>
                <Form.Item {...item([n, "low"])}>
                  <InputNumber step={0.1} style={{ width: 64 }} />
                </Form.Item>
                <Form.Item {...item([n, "high"])}>
                  <InputNumber step={0.1} style={{ width: 64 }} />
                </Form.Item>
              </>
            )}
          </Rows>
        </>
      );
    case "wait":
      return (
        <>
          <Form.Item name={["ui", "mode"]} label={t("等待方式")} style={{ marginBottom: 8 }}>
            <Radio.Group
              options={[
                { value: "delay", label: t("等待时长") },
                { value: "until", label: t("等到时刻") },
              ]}
            />
          </Form.Item>
          {ui.mode === "until" ? text(["config", "until"], "时刻 (HH:MM)", "form-until") : <Duration name={["config", "delay"]} label="时长" testid="form-delay" />}
          <Form.Item name={["config", "business_day"]} label={t("仅工作日")} valuePropName="checked" style={{ marginBottom: 8 }}>
            <Switch size="small" />
          </Form.Item>
        </>
      );
    case "frequency_cap":
      return (
        <>
          {num(["config", "max"], "最多通过次数", { min: 1 })}
          <Duration name={["config", "per"]} label="统计周期" />
        </>
      );
    case "quiet_hours":
      return (
        <>
          {text(["config", "start"], "开始 (HH:MM)")}
          {text(["config", "end"], "结束 (HH:MM)")}
        </>
      );
    case "exit":
      return text(["config", "reason"], "退出原因", "form-reason", false);
    case "merge":
      return text(["config", "note"], "备注", undefined, false);
    case "send_message":
      return (
        <>
          <Form.Item name={["config", "channel"]} label={t("渠道")} rules={[{ required: true }]} style={{ marginBottom: 8 }}>
            <Select data-testid="form-channel" options={CHANNELS.map((c) => ({ value: c, label: c }))} />
          </Form.Item>
          <Form.Item name={["config", "template_id"]} label={t("消息模板")} rules={[{ required: true }]} style={{ marginBottom: 8 }}>
            <Select
              showSearch
              data-testid="form-template"
              notFoundContent={t("该渠道暂无模板")}
              options={options.templates.filter((o) => !channel || o.channel === channel)}
            />
          </Form.Item>
          {text(["config", "business_line"], "业务条线", undefined, false)}
          <Form.Item name={["config", "marketing"]} label={t("营销类")} valuePropName="checked" style={{ marginBottom: 8 }}>
            <Switch size="small" />
          </Form.Item>
          {num(["config", "cost_cents"], "单条成本 (分)", { min: 0 })}
          {channel === "slot" && (
            <>
              {text(["config", "slot", "slot"], "资源位", "form-slot")}
              {text(["config", "slot", "title"], "资源位标题", "form-slot-title")}
              {text(["config", "slot", "image_url"], "图片地址 (https)", "form-slot-image", false)}
              {text(["config", "slot", "link"], "跳转链接 (https)", "form-slot-link", false)}
              {num(["config", "slot", "priority"], "优先级 (−1000–1000)", { min: -1000, max: 1000 })}
              {num(["config", "slot", "hours"], "展示时长 (小时)", { min: 0.1, max: 8784 })}
            </>
          )}
        </>
      );
    case "issue_benefit":
      return (
        <>
          <Form.Item name={["config", "benefit_id"]} label={t("权益")} rules={[{ required: true }]} style={{ marginBottom: 8 }}>
            <Select showSearch options={options.benefits} data-testid="form-benefit" />
          </Form.Item>
          {num(["config", "cost_cents"], "单次成本 (分)", { min: 0 })}
        </>
      );
    case "rm_task":
      return (
        <>
          {text(["config", "title"], "任务标题", "form-title")}
          <Duration name={["config", "due"]} label="完成期限" />
        </>
      );
    case "tag":
      return (
        <>
          <Form.Item name={["config", "op"]} label={t("操作")} style={{ marginBottom: 8 }}>
            <Radio.Group
              options={[
                { value: "add", label: t("打上") },
                { value: "remove", label: t("移除") },
              ]}
            />
          </Form.Item>
          {text(["config", "tag"], "标签", "form-tag")}
        </>
      );
    case "webhook":
      return (
        <>
          {text(["config", "url"], "地址 (https)", "form-url")}
          {text(["config", "channel"], "Webhook 渠道", "form-webhook-channel")}
        </>
      );
    default:
      return <Typography.Text type="secondary">{kind}</Typography.Text>;
  }
}

function OnBlocked() {
  const { t } = useI18n();
  const action = Form.useWatch(["on_blocked", "action"]) as string | undefined;
  return (
    <>
      <Form.Item name={["on_blocked", "action"]} label={t("被触达策略拦截时")} style={{ marginBottom: 8 }}>
        <Select
          data-testid="form-on-blocked"
          options={[
            { value: "skip", label: t("跳过此步，继续") },
            { value: "wait", label: t("等待，直到期限") },
            { value: "exit", label: t("退出旅程") },
          ]}
        />
      </Form.Item>
      {action === "wait" && <Duration name={["on_blocked", "deadline"]} label="等待期限" />}
    </>
  );
}

/** One node's form. Every change is sent up as the node's config (and on_blocked); an
 *  API error naming a field of this node (``nodes[i].config.x``) is shown on that field. */
export function NodeForm({
  kind,
  config,
  onBlocked,
  options,
  fieldError,
  onChange,
}: {
  kind: string;
  config: Cfg;
  onBlocked?: Cfg;
  options: Options;
  fieldError: { name: Name; message: string } | null;
  onChange: (next: { config: Cfg; on_blocked?: Cfg }) => void;
}) {
  const [form] = Form.useForm<FormValues>();
  const [initial] = useState(() => toFormValues(kind, config, onBlocked));
  const marked = useRef<Name | null>(null);
  useEffect(() => {
    // the API's error stays on its field until the node is edited (no rule re-checks it)
    const name = fieldError?.name ?? marked.current;
    if (!name) return;
    form.setFields([{ name, errors: fieldError ? [fieldError.message] : [] }]);
    marked.current = fieldError ? fieldError.name : null;
  }, [fieldError, form]);
  return (
    <Form
      form={form}
      layout="vertical"
      size="small"
      initialValues={initial}
      onValuesChange={() => onChange(fromFormValues(kind, form.getFieldsValue(true) as FormValues))}
      data-testid="node-form"
    >
      <KindFields kind={kind} options={options} values={initial} />
      {onBlocked !== undefined || initial.on_blocked ? <OnBlocked /> : null}
    </Form>
  );
}
