// A card as plain markup for the home page: antd's Card brings Tabs (rc-tabs) into the
// first load for its tab list, which the home page never shows. Same look as a Card.
import type { ReactNode } from "react";

export function Panel({ title, children, testId }: { title?: ReactNode; children: ReactNode; testId?: string }) {
  return (
    <div className="ant-card ant-card-bordered" data-testid={testId} style={{ background: "#fff", border: "1px solid #f0f0f0", borderRadius: 8 }}>
      {title && <div style={{ padding: "12px 24px", fontWeight: 600, fontSize: 16, borderBottom: "1px solid #f0f0f0" }}>{title}</div>}
      <div style={{ padding: 24 }}>{children}</div>
    </div>
  );
}

/** Secondary / success / danger text without antd's Typography (editable, copyable: heavy). */
export function Note({ tone = "secondary", children }: { tone?: "secondary" | "success" | "danger"; children: ReactNode }) {
  const color = { secondary: "rgba(0, 0, 0, 0.45)", success: "#52c41a", danger: "#ff4d4f" }[tone];
  return <span style={{ color }}>{children}</span>;
}
