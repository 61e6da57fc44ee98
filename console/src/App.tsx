// The shell: sign-in gate, left navigation by center, scope badge, user menu, language.
import { lazy, Suspense, useEffect, useState } from "react";
import { Navigate, Route, Routes, useLocation, useNavigate } from "react-router-dom";
import { ConfigProvider, Dropdown, Layout, Menu, Segmented, Spin, Tag } from "antd";
import {
  ApartmentOutlined,
  DashboardOutlined,
  GiftOutlined,
  LineChartOutlined,
  SendOutlined,
  TeamOutlined,
  UserOutlined,
} from "@ant-design/icons";
import zhCN from "antd/locale/zh_CN";
import enUS from "antd/locale/en_US";
import { get, post, type Me } from "./api";
import { useI18n } from "./i18n";
import { Home } from "./pages/Home";
import { scopeLabel } from "./scope";

// Signed in, the sign-in form (antd Form) is never needed: it loads only when shown.
const Login = lazy(() => import("./pages/Login").then((m) => ({ default: m.Login })));
const Customers = lazy(() => import("./pages/Customers"));
const CustomerProfile = lazy(() => import("./pages/CustomerProfile"));
const Segments = lazy(() => import("./pages/Segments"));
const Journeys = lazy(() => import("./pages/Journeys"));
const JourneyList = lazy(() => import("./pages/JourneyList"));
const Funnel = lazy(() => import("./pages/Funnel"));
const Experiments = lazy(() => import("./pages/Experiments"));
const Activities = lazy(() => import("./pages/Activities"));
const Reach = lazy(() => import("./pages/Reach"));
const Tags = lazy(() => import("./pages/Tags"));
const Lifecycle = lazy(() => import("./pages/Lifecycle"));
const Analysis = lazy(() => import("./pages/Analysis"));
const Roi = lazy(() => import("./pages/Roi"));
const ActivityCreate = lazy(() => import("./pages/ActivityCreate"));

export function App() {
  const { lang } = useI18n();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  useEffect(() => {
    get<Me>("/api/v1/auth/me").then(setMe, () => setMe(null));
  }, []);
  return (
    <ConfigProvider locale={lang === "en" ? enUS : zhCN} theme={{ token: { colorPrimary: "#c8102e" } }}>
      {/* not antd's <App>: it would bring Modal, message and notification into the first load */}
      <div style={{ fontSize: 14, lineHeight: 1.5715, color: "rgba(0, 0, 0, 0.88)", fontFamily: "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Noto Sans', sans-serif" }}>
        {me === undefined ? (
          <Spin style={{ marginTop: 200, width: "100%" }} />
        ) : me === null ? (
          <Suspense fallback={<Spin style={{ marginTop: 200, width: "100%" }} />}>
            <Login onSignedIn={setMe} />
          </Suspense>
        ) : (
          <Shell me={me} onSignedOut={() => setMe(null)} />
        )}
      </div>
    </ConfigProvider>
  );
}

function Shell({ me, onSignedOut }: { me: Me; onSignedOut: () => void }) {
  const { t, lang, setLang } = useI18n();
  const nav = useNavigate();
  const loc = useLocation();
  const items = [
    { key: "/", icon: <DashboardOutlined />, label: t("首页") },
    {
      key: "insight",
      icon: <TeamOutlined />,
      label: t("客户洞察"),
      children: [
        { key: "/customers", label: t("客户查询") },
        { key: "/segments", label: t("客群圈选") },
        { key: "/tags", label: t("标签目录") },
        { key: "/lifecycle", label: t("客户流转") },
      ],
    },
    {
      key: "strategy",
      icon: <ApartmentOutlined />,
      label: t("策略中心"),
      children: [{ key: "/journeys", label: t("策略画布") }],
    },
    { key: "/activities", icon: <GiftOutlined />, label: t("活动中心") },
    { key: "/reach", icon: <SendOutlined />, label: t("触达中心") },
    {
      key: "monitor",
      icon: <LineChartOutlined />,
      label: t("运营监控"),
      children: [
        { key: "/monitor/events", label: t("事件分析") },
        { key: "/monitor/funnel", label: t("漏斗分析") },
        { key: "/monitor/retention", label: t("留存分析") },
        { key: "/monitor/path", label: t("路径分析") },
        { key: "/monitor/attribution", label: t("归因分析") },
        { key: "/monitor/experiments", label: t("实验结果") },
        { key: "/monitor/roi", label: t("活动ROI") },
      ],
    },
  ];
  const signOut = async () => {
    try {
      await post("/api/v1/auth/logout");
    } finally {
      onSignedOut();
      nav("/");
    }
  };
  const selected = "/" + (loc.pathname.split("/")[1] ?? "");
  const sel = selected === "/monitor" ? loc.pathname : selected;
  return (
    <Layout style={{ minHeight: "100vh" }}>
      <Layout.Sider width={210} theme="light" style={{ borderRight: "1px solid #eee" }}>
        <div style={{ padding: "16px 20px", fontWeight: 600, fontSize: 16 }}>opsloop · {t("运营工作台")}</div>
        <Menu
          mode="inline"
          selectedKeys={[sel]}
          defaultOpenKeys={["insight", "strategy", "monitor"]}
          items={items}
          onClick={(e) => nav(e.key)}
          data-testid="nav"
        />
      </Layout.Sider>
      <Layout>
        <Layout.Header
          style={{ background: "#fff", display: "flex", alignItems: "center", gap: 16, borderBottom: "1px solid #eee" }}
        >
          <div style={{ flex: 1 }} />
          <Tag color="blue" data-testid="scope-badge">
            {t("数据范围")}: {scopeLabel(me, t)}
          </Tag>
          <Segmented
            size="small"
            value={lang}
            options={[
              { label: "中文", value: "zh-CN" },
              { label: "EN", value: "en" },
            ]}
            onChange={(v) => setLang(v as "zh-CN" | "en")}
          />
          <Dropdown menu={{ items: [{ key: "out", label: t("退出登录"), onClick: signOut }] }}>
            <a data-testid="user-menu" style={{ color: "#c8102e" }}>
              <UserOutlined /> {me.id}
            </a>
          </Dropdown>
        </Layout.Header>
        <Layout.Content style={{ padding: 20 }}>
          <Suspense fallback={<Spin />}>
            <Routes>
              <Route path="/" element={<Home me={me} />} />
              <Route path="/customers" element={<Customers />} />
              <Route path="/customers/:id" element={<CustomerProfile />} />
              <Route path="/segments" element={<Segments />} />
              <Route path="/journeys" element={<JourneyList />} />
              <Route path="/journeys/new" element={<Journeys />} />
              <Route path="/journeys/:id" element={<Journeys />} />
              <Route path="/tags" element={<Tags />} />
              <Route path="/lifecycle" element={<Lifecycle />} />
              <Route path="/monitor/events" element={<Analysis key="event" kind="event" />} />
              <Route path="/monitor/retention" element={<Analysis key="retention" kind="retention" />} />
              <Route path="/monitor/path" element={<Analysis key="path" kind="path" />} />
              <Route path="/monitor/attribution" element={<Analysis key="attribution" kind="attribution" />} />
              <Route path="/monitor/roi" element={<Roi />} />
              <Route path="/monitor/funnel" element={<Funnel />} />
              <Route path="/monitor/experiments" element={<Experiments />} />
              <Route path="/activities" element={<Activities />} />
              <Route path="/activities/new" element={<ActivityCreate />} />
              <Route path="/reach" element={<Reach />} />
              <Route path="*" element={<Navigate to="/" replace />} />
            </Routes>
          </Suspense>
        </Layout.Content>
      </Layout>
    </Layout>
  );
}
