import { Alert } from "antd";
import { ApiError, isMissing } from "../api";
import { useI18n } from "../i18n";

/** One place that says what went wrong: a missing endpoint or the API's own message. */
export function ErrorNote({ error }: { error: unknown }) {
  const { t } = useI18n();
  if (!error) return null;
  if (isMissing(error)) return <Alert type="info" showIcon message={t("接口未提供")} data-testid="missing" />;
  const msg = error instanceof Error ? error.message : String(error);
  const where = error instanceof ApiError && error.where ? ` (${error.where})` : "";
  return <Alert type="error" showIcon message={msg + where} data-testid="error" />;
}
