// Create an activity from a template (从模板创建活动): a step form — template, its
// benefits, window and audience, landing page — then review and save as a draft or
// save and submit for approval. The API validates and names the wrong field.
import { useEffect, useState } from "react";
import { Alert, Button, Card, Col, Descriptions, Form, Input, InputNumber, Radio, Row, Select, Space, Steps, Typography } from "antd";
import { MinusCircleOutlined, PlusOutlined } from "@ant-design/icons";
import { Link } from "react-router-dom";
import { get, post } from "../api";
import { ErrorNote } from "../components/Missing";
import { useI18n } from "../i18n";
import { activityDocument, benefitIds, defaultWindow, TEMPLATE_ZH, TEMPLATES, type ActivityForm, type TemplateKind } from "../activity";
import { yuan } from "../format";

interface Benefit {
  definition: { id: string; name: string };
}

const ACTIONS = ["kyc", "bind_card", "first_purchase"];
const STEP_FIELDS: string[][] = [
  ["template"],
  ["benefit_id", "rewards", "prizes", "tasks", "inviter_benefit_id", "invitee_benefit_id", "cycle_days", "draws_per_day", "qualifying_action", "max_invites"],
  ["name", "starts_at", "ends_at", "budget_yuan", "kyc_risk_levels"],
  ["landing_title", "landing_body"],
];

/** The last step: what will be saved, in words (the document itself folded below). */
function Review({ values, benefits }: { values: ActivityForm; benefits: Benefit[] }) {
  const { t } = useI18n();
  const doc = activityDocument(values);
  const names = new Map(benefits.map((b) => [b.definition.id, b.definition.name]));
  const given = benefitIds(doc.template).map((id) => `${names.get(id) ?? id} (${id})`);
  const budget = doc.budget_cents as number | undefined;
  const kyc = (doc.eligibility as { kyc_risk_levels?: number[] } | undefined)?.kyc_risk_levels;
  return (
    <>
      <Descriptions bordered size="small" column={2} data-testid="activity-summary" style={{ marginBottom: 12 }}>
        <Descriptions.Item label={t("活动名称")}>{String(doc.name)}</Descriptions.Item>
        <Descriptions.Item label={t("模板")}>{t(TEMPLATE_ZH[values.template][0])}</Descriptions.Item>
        <Descriptions.Item label={t("权益")} span={2}>
          {given.join("、") || "—"}
        </Descriptions.Item>
        <Descriptions.Item label={t("活动时间")} span={2}>{`${String(doc.starts_at).replace("T", " ")} ~ ${String(doc.ends_at).replace("T", " ")}`}</Descriptions.Item>
        <Descriptions.Item label={t("预算")}>{budget === undefined ? t("不限") : yuan(budget)}</Descriptions.Item>
        <Descriptions.Item label={t("风险等级")}>{kyc?.length ? kyc.join(", ") : t("不限")}</Descriptions.Item>
        <Descriptions.Item label={t("落地页标题")} span={2}>
          {(doc.landing as { title: string }).title}
        </Descriptions.Item>
      </Descriptions>
      <details style={{ marginBottom: 12 }}>
        <summary style={{ cursor: "pointer", color: "rgba(0,0,0,0.45)" }}>{t("查看活动定义 (JSON)")}</summary>
        <pre data-testid="activity-review" style={{ background: "#fafafa", padding: 12, maxHeight: 360, overflow: "auto" }}>
          {JSON.stringify(doc, null, 2)}
        </pre>
      </details>
    </>
  );
}

export default function ActivityCreate() {
  const { t } = useI18n();
  const [form] = Form.useForm<ActivityForm>();
  const [step, setStep] = useState(0);
  const [benefits, setBenefits] = useState<Benefit[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<{ id: string; status: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const kind = (Form.useWatch("template", form) ?? "coupon_drop") as TemplateKind;
  useEffect(() => {
    get<Benefit[]>("/api/v1/benefits").then(setBenefits, setError);
  }, []);
  const benefitPick = (name: string | (string | number)[], label: string, testId: string, extra = {}) => (
    <Form.Item name={name} label={label} rules={[{ required: true }]} {...extra}>
      <Select
        style={{ minWidth: 220 }}
        data-testid={testId}
        options={benefits.map(({ definition: b }) => ({ value: b.id, label: `${b.name} (${b.id})` }))}
        notFoundContent={t("暂无权益")}
      />
    </Form.Item>
  );
  const next = async () => {
    try {
      await form.validateFields(STEP_FIELDS[step]);
    } catch {
      return; // the form shows what is missing under each field
    }
    setStep((s) => s + 1);
  };
  const save = async (submit: boolean) => {
    setBusy(true);
    setError(null);
    try {
      const doc = activityDocument(form.getFieldsValue(true) as ActivityForm);
      let row = await post<{ id: string; status: string }>("/api/v1/activities", doc);
      if (submit) row = await post<{ id: string; status: string }>(`/api/v1/activities/${encodeURIComponent(row.id)}/submit`);
      setSaved(row);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const values = form.getFieldsValue(true) as ActivityForm;
  return (
    <Card title={t("从模板创建活动")} extra={<Link to="/activities">{t("活动列表")}</Link>}>
      <Steps
        current={step}
        style={{ marginBottom: 24 }}
        items={[{ title: t("选择模板") }, { title: t("奖励设置") }, { title: t("时间与人群") }, { title: t("落地页") }, { title: t("确认提交") }]}
      />
      <Form
        form={form}
        layout="vertical"
        preserve
        initialValues={{
          template: "coupon_drop",
          cycle_days: 7,
          rewards: [{ day: 7 }],
          prizes: [{ probability: 0.1 }],
          draws_per_day: 1,
          qualifying_action: "first_purchase",
          max_invites: 20,
          tasks: [{ action: "kyc" }],
          ...defaultWindow(new Date()),
        }}
      >
        <div style={{ display: step === 0 ? "block" : "none" }}>
          <Form.Item name="template">
            <Radio.Group data-testid="template-pick">
              <Row gutter={[12, 12]}>
                {TEMPLATES.map((k) => (
                  <Col span={8} key={k}>
                    <Radio value={k} data-testid={`template-${k}`}>
                      <b>{t(TEMPLATE_ZH[k][0])}</b> <Typography.Text type="secondary">{t(TEMPLATE_ZH[k][1])}</Typography.Text>
                    </Radio>
                  </Col>
                ))}
              </Row>
            </Radio.Group>
          </Form.Item>
        </div>
        <div style={{ display: step === 1 ? "block" : "none" }}>
          {(kind === "coupon_drop" || kind === "quota_test") && benefitPick("benefit_id", t("权益"), "benefit-pick")}
          {kind === "referral" && (
            <Space wrap>
              {benefitPick("inviter_benefit_id", t("邀请人奖励"), "inviter-pick")}
              {benefitPick("invitee_benefit_id", t("被邀请人奖励"), "invitee-pick")}
              <Form.Item name="qualifying_action" label={t("达成动作")}>
                <Select style={{ width: 160 }} options={ACTIONS.map((value) => ({ value }))} />
              </Form.Item>
              <Form.Item name="max_invites" label={t("邀请上限")}>
                <InputNumber min={1} max={1000} />
              </Form.Item>
            </Space>
          )}
          {kind === "sign_in" && (
            <>
              <Form.Item name="cycle_days" label={t("签到周期（天）")}>
                <InputNumber min={1} max={366} />
              </Form.Item>
              <Form.List name="rewards">
                {(fields, { add, remove }) => (
                  <>
                    {fields.map((f) => (
                      <Space key={f.key} align="baseline">
                        <Form.Item name={[f.name, "day"]} label={t("第几天")} rules={[{ required: true }]}>
                          <InputNumber min={1} max={366} />
                        </Form.Item>
                        {benefitPick([f.name, "benefit_id"] as (string | number)[], t("权益"), `reward-${f.name}`)}
                        <MinusCircleOutlined onClick={() => remove(f.name)} />
                      </Space>
                    ))}
                    <Button type="dashed" icon={<PlusOutlined />} onClick={() => add({})}>
                      {t("添加奖励")}
                    </Button>
                  </>
                )}
              </Form.List>
            </>
          )}
          {kind === "lucky_draw" && (
            <>
              <Form.Item name="draws_per_day" label={t("每日抽奖次数")}>
                <InputNumber min={1} max={100} />
              </Form.Item>
              <Form.List name="prizes">
                {(fields, { add, remove }) => (
                  <>
                    {fields.map((f) => (
                      <Space key={f.key} align="baseline">
                        {benefitPick([f.name, "benefit_id"] as (string | number)[], t("奖品"), `prize-${f.name}`)}
                        <Form.Item name={[f.name, "probability"]} label={t("中奖概率")} rules={[{ required: true }]}>
                          <InputNumber min={0.0001} max={1} step={0.01} />
                        </Form.Item>
                        <MinusCircleOutlined onClick={() => remove(f.name)} />
                      </Space>
                    ))}
                    <Button type="dashed" icon={<PlusOutlined />} onClick={() => add({ probability: 0.1 })}>
                      {t("添加奖品")}
                    </Button>
                  </>
                )}
              </Form.List>
            </>
          )}
          {kind === "task" && (
            <Form.List name="tasks">
              {(fields, { add, remove }) => (
                <>
                  {fields.map((f) => (
                    <Space key={f.key} align="baseline">
                      <Form.Item name={[f.name, "action"]} label={t("任务")} rules={[{ required: true }]}>
                        <Select style={{ width: 160 }} options={ACTIONS.map((value) => ({ value }))} />
                      </Form.Item>
                      {benefitPick([f.name, "benefit_id"] as (string | number)[], t("权益"), `task-${f.name}`)}
                      <MinusCircleOutlined onClick={() => remove(f.name)} />
                    </Space>
                  ))}
                  <Button type="dashed" icon={<PlusOutlined />} onClick={() => add({ action: "bind_card" })}>
                    {t("添加任务")}
                  </Button>
                </>
              )}
            </Form.List>
          )}
        </div>
        <div style={{ display: step === 2 ? "block" : "none" }}>
          <Form.Item name="name" label={t("活动名称")} rules={[{ required: true, max: 200 }]}>
            <Input data-testid="activity-name" />
          </Form.Item>
          <Space wrap>
            <Form.Item name="starts_at" label={t("开始时间")} rules={[{ required: true }]}>
              <Input style={{ width: 260 }} data-testid="activity-starts" />
            </Form.Item>
            <Form.Item name="ends_at" label={t("结束时间")} rules={[{ required: true }]}>
              <Input style={{ width: 260 }} data-testid="activity-ends" />
            </Form.Item>
            <Form.Item name="budget_yuan" label={t("活动预算（元）")}>
              <InputNumber min={0} style={{ width: 180 }} data-testid="activity-budget" />
            </Form.Item>
            <Form.Item name="kyc_risk_levels" label={t("风险等级（空为全部）")}>
              <Select mode="multiple" style={{ width: 220 }} options={[1, 2, 3, 4, 5].map((value) => ({ value }))} />
            </Form.Item>
          </Space>
        </div>
        <div style={{ display: step === 3 ? "block" : "none" }}>
          <Form.Item name="landing_title" label={t("落地页标题")} rules={[{ required: true, max: 200 }]}>
            <Input data-testid="landing-title" />
          </Form.Item>
          <Form.Item name="landing_body" label={t("落地页正文")} rules={[{ max: 5000 }]}>
            <Input.TextArea rows={4} />
          </Form.Item>
        </div>
        {step === 4 && <Review values={values} benefits={benefits} />}
      </Form>
      <ErrorNote error={error} />
      {saved && (
        <Alert
          type="success"
          showIcon
          data-testid="activity-saved"
          message={`${t("已保存")}: ${saved.id} · ${saved.status}`}
          style={{ marginBottom: 12 }}
        />
      )}
      <Space>
        {step > 0 && <Button onClick={() => setStep((s) => s - 1)}>{t("上一步")}</Button>}
        {step < 4 && (
          <Button type="primary" onClick={next} data-testid="step-next">
            {t("下一步")}
          </Button>
        )}
        {step === 4 && (
          <>
            <Button onClick={() => save(false)} loading={busy} disabled={!!saved} data-testid="save-draft">
              {t("保存草稿")}
            </Button>
            <Button type="primary" onClick={() => save(true)} loading={busy} disabled={!!saved} data-testid="save-submit">
              {t("保存并提交审批")}
            </Button>
          </>
        )}
      </Space>
    </Card>
  );
}
