// Two languages, Simplified Chinese by default; the choice is kept in localStorage.
import { createContext, useContext, useState, type ReactNode } from "react";

export type Lang = "zh-CN" | "en";

const EN: Record<string, string> = {
  首页: "Home",
  客户洞察: "Customer insight",
  客户查询: "Customers",
  客群圈选: "Segment builder",
  策略中心: "Strategy",
  策略画布: "Journey canvas",
  活动中心: "Activities",
  触达中心: "Reach",
  运营监控: "Monitoring",
  漏斗分析: "Funnel",
  实验结果: "Experiments",
  登录: "Sign in",
  退出登录: "Sign out",
  用户名: "Username",
  密码: "Password",
  运营工作台: "Operations console",
  数据范围: "Scope",
  全行: "Bank-wide",
  月活客户: "MAU",
  资产规模: "AUM",
  较上月: "vs last month",
  新增客户: "New customers",
  活跃客户: "Active customers",
  流失客户: "Churned customers",
  非活跃客户: "Inactive customers",
  客户总数: "Customers",
  运行中旅程: "Running journeys",
  进行中活动: "Running activities",
  资产规模趋势: "AUM trend",
  月活趋势: "MAU trend",
  客户构成: "Customer counts",
  接口未提供: "This endpoint is not available on this server yet",
  加载中: "Loading",
  搜索: "Search",
  客户号: "Customer ID",
  机构: "Org",
  城市: "City",
  客户经理: "RM",
  性别: "Gender",
  开户日期: "Opened on",
  风险等级: "Risk level",
  姓名: "Name",
  手机: "Phone",
  邮箱: "E-mail",
  证件号: "ID number",
  状态: "Status",
  正常: "Active",
  免打扰: "Do not disturb",
  客户360: "Customer 360°",
  基本信息: "Profile",
  接触历史: "Contact history",
  且: "AND",
  或: "OR",
  添加条件: "Add condition",
  添加条件组: "Add group",
  属性条件: "Attribute",
  交易条件: "Transactions",
  行为条件: "Behaviour",
  删除: "Delete",
  预计人数: "Estimated audience",
  按分行: "By branch",
  客群名称: "Segment name",
  节点库: "Node palette",
  入口: "Entry",
  判断: "Judgment",
  控制: "Control",
  动作: "Action",
  校验: "Validate",
  试运行: "Dry run",
  提交审批: "Submit",
  审批通过: "Approve",
  节点配置: "Node settings",
  校验通过: "Valid",
  保存: "Save",
  旅程编号: "Journey id",
  旅程名称: "Journey name",
  拖动节点到画布: "Drag nodes onto the canvas",
  运行: "Run",
  步骤: "Steps",
  窗口天数: "Window (days)",
  开始日期: "Start",
  结束日期: "End",
  转化率: "Conversion",
  人数: "Customers",
  实验表: "Exposure table",
  对照组: "Control arm",
  指标: "Metrics",
  胜出概率: "P(beat control)",
  置信区间: "CI",
  提升: "Uplift",
  活动列表: "Activities",
  风险审核: "Risk review",
  模板预览: "Template preview",
  模板编号: "Template id",
  预览: "Preview",
  暂无数据: "No data",
  语言: "Language",
  每节点人数: "Per node",
  节点统计: "Node stats",
  释放: "Release",
  库存: "Stock",
  预算: "Budget",
  名称: "Name",
  类型: "Kind",
  时间: "Time",
  渠道: "Channel",
  结果: "Outcome",
  本地操作员: "Local operator",
  行为轨迹: "Events timeline",
  持有产品: "Holdings",
  近期交易: "Recent transactions",
  所属客群: "Segments",
  模型评分: "Model scores",
  告警: "Alerts",
  旅程健康: "Journey health",
};

interface I18n {
  lang: Lang;
  setLang: (l: Lang) => void;
  t: (zh: string) => string;
}

/** Keys are the Chinese text itself, so the default language needs no lookup. */
export function translate(lang: Lang, zh: string): string {
  return lang === "zh-CN" ? zh : (EN[zh] ?? zh);
}

const Ctx = createContext<I18n>({ lang: "zh-CN", setLang: () => {}, t: (s) => s });

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(
    (localStorage.getItem("opsloop.lang") as Lang | null) === "en" ? "en" : "zh-CN",
  );
  const setLang = (l: Lang) => {
    localStorage.setItem("opsloop.lang", l);
    document.documentElement.lang = l;
    setLangState(l);
  };
  return <Ctx.Provider value={{ lang, setLang, t: (s) => translate(lang, s) }}>{children}</Ctx.Provider>;
}

export const useI18n = () => useContext(Ctx);
