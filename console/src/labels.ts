// Chinese names for the API's field names and codes that tables show as they come
// (holdings, transactions, contact history, model scores…), so the Chinese console shows
// no raw English keys; English names come from i18n (the Chinese text is the key).

export const COLUMN_ZH: Record<string, string> = {
  account_id: "账户",
  product_id: "产品编号",
  product_name: "产品名称",
  category: "类别",
  opened_on: "开户日期",
  status: "状态",
  principal: "本金",
  ts: "时间",
  at: "时间",
  amount: "金额",
  direction: "方向",
  kind: "类型",
  channel: "渠道",
  customer_id: "客户号",
  campaign: "触达活动",
  campaign_id: "营销活动",
  attempt: "第几次",
  outcome: "结果",
  message_key: "消息编号",
  reason: "原因",
  segment_id: "客群编号",
  name: "名称",
  version: "版本",
  materialised_at: "计算时间",
  model: "模型",
  score: "评分",
  band: "等级",
  scored_at: "评分时间",
  reasons: "主要原因",
  event: "事件",
  platform: "平台",
  properties: "属性",
};

/** What a contact-history row records (reach_contacts.kind). */
export const CONTACT_KIND_ZH: Record<string, string> = {
  enqueued: "已排队",
  suppressed: "被策略拦截",
  attempt: "尝试发送",
  sent: "已发送",
  failed: "发送失败",
  dead: "放弃发送",
  delivered: "已送达",
  opened: "已打开",
  clicked: "已点击",
  replied: "已回复",
  unsubscribed: "已退订",
  outcome: "转化结果",
};

/** Codes shown inside the profile's tables. */
export const VALUE_ZH: Record<string, Record<string, string>> = {
  direction: { in: "转入", out: "转出", credit: "转入", debit: "转出" },
  band: { high: "高", medium: "中", low: "低" },
  model: { churn: "流失预警", propensity: "高潜客户" },
  status: { open: "正常", active: "正常", closed: "已销户", dormant: "休眠" },
  kind: {
    ...CONTACT_KIND_ZH,
    salary: "工资",
    purchase: "消费",
    transfer_in: "转入",
    transfer_out: "转出",
    fund_buy: "基金申购",
    fund_redeem: "基金赎回",
    loan_repay: "还贷",
    atm_withdrawal: "ATM取现",
  },
  category: { deposit: "存款", wealth: "理财", fund: "基金", insurance: "保险", loan: "贷款", card: "银行卡" },
  gender: { M: "男", F: "女" },
  reason: { no_consent: "未授权", dnd: "免打扰", quiet_hours: "免打扰时段", frequency_cap: "频控", capped: "频控", exhausted: "权益用尽" },
  outcome: { success: "成功", failure: "未成功", yes: "是", no: "否" },
  channel: {
    sms: "短信",
    push: "App推送",
    email: "邮件",
    wechat: "微信",
    call: "外呼",
    inapp: "站内信",
    inbox: "站内信",
    rm: "客户经理",
    app: "手机银行",
    counter: "柜面",
    atm: "ATM",
    pos: "POS",
    online: "网银",
    standing_order: "定期代扣",
  },
};

export const columnTitle = (key: string, t: (zh: string) => string): string => (key in COLUMN_ZH ? t(COLUMN_ZH[key]) : key);

/** A cell as text: a known code in Chinese (or English), objects as JSON, dates trimmed. */
export function cellText(key: string, v: unknown, t: (zh: string) => string): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  const s = String(v);
  const zh = VALUE_ZH[key]?.[s];
  if (zh) return t(zh);
  if ((key === "ts" || key === "at" || key.endsWith("_at")) && /^\d{4}-\d\d-\d\dT/.test(s)) return s.replace("T", " ").slice(0, 19);
  return s;
}

/** Lifecycle stages (生命周期) as insight.lifecycle names them. */
export const STAGE_ZH: Record<string, string> = {
  new: "新客",
  growing: "成长",
  mature: "成熟",
  declining: "衰退",
  dormant: "沉睡",
  churned: "流失",
  absent: "不在册",
};

/** The churn / propensity models' features (insight/models/features.py), for their reasons. */
export const FEATURE_ZH: Record<string, string> = {
  age: "年龄",
  tenure_days: "开户天数",
  income_monthly: "月收入",
  kyc_risk_level: "风险等级",
  products_held: "持有产品数",
  aum_last: "当前资产",
  aum_3m_ago: "3个月前资产",
  aum_ratio_3m: "资产较3个月前",
  deposit_last: "存款余额",
  wealth_last: "理财余额",
  loan_last: "贷款余额",
  txn_30d: "近30天交易笔数",
  txn_prev_60d: "此前60天交易笔数",
  in_30d: "近30天转入",
  in_prev_60d: "此前60天转入",
  out_30d: "近30天转出",
  out_prev_60d: "此前60天转出",
  logins_30d: "近30天登录",
  logins_prev_60d: "此前60天登录",
  sessions_30d: "近30天访问",
  sessions_prev_60d: "此前60天访问",
  fund_buys_30d: "近30天基金申购",
  fund_buys_90d: "近90天基金申购",
  fund_buys_prev_60d: "此前60天基金申购",
  fund_views_90d: "近90天基金浏览",
};

/** "资产较3个月前=0.64; 近30天交易笔数=0": a model's reasons in words. */
export function reasonsText(reasons: unknown, t: (zh: string) => string): string {
  let list: unknown = reasons;
  if (typeof reasons === "string") {
    try {
      list = JSON.parse(reasons);
    } catch {
      return reasons;
    }
  }
  if (!Array.isArray(list)) return "";
  return list
    .map((r: { feature?: unknown; value?: unknown }) => {
      const f = String(r?.feature ?? "");
      return `${FEATURE_ZH[f] ? t(FEATURE_ZH[f]) : f}=${String(r?.value ?? "")}`;
    })
    .join("; ");
}
