// A thin fetch client for the opsloop API: session cookie + CSRF header on writes, and
// errors turned into one readable line (the API names the field in `where`).

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public where: string | null = null,
  ) {
    super(message);
  }
}

function csrf(): string {
  const m = document.cookie.match(/(?:^|;\s*)opsloop_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

/** Turn any API error body into a short sentence (FastAPI 422 lists, OpsloopError, ...). */
export function describeError(status: number, body: unknown): { message: string; where: string | null } {
  if (body && typeof body === "object" && "detail" in body) {
    const b = body as { detail: unknown; where?: unknown };
    const where = typeof b.where === "string" ? b.where : null;
    if (typeof b.detail === "string") return { message: b.detail, where };
    if (Array.isArray(b.detail)) {
      const parts = b.detail.map((e: { loc?: unknown[]; msg?: string }) =>
        `${(e.loc ?? []).join(".")}: ${e.msg ?? ""}`,
      );
      return { message: parts.join("; "), where };
    }
  }
  return { message: `HTTP ${status}`, where: null };
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET") headers["x-csrf-token"] = csrf();
  const resp = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return parse<T>(resp);
}

/** A multipart POST of one file (field ``file``); the browser sets the boundary. */
export async function upload<T>(path: string, file: Blob, filename: string): Promise<T> {
  const form = new FormData();
  form.append("file", file, filename);
  const resp = await fetch(path, {
    method: "POST",
    headers: { accept: "application/json", "x-csrf-token": csrf() },
    credentials: "same-origin",
    body: form,
  });
  return parse<T>(resp);
}

async function parse<T>(resp: Response): Promise<T> {
  if (resp.status === 204) return undefined as T;
  const text = await resp.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const { message, where } = describeError(resp.status, data);
    throw new ApiError(resp.status, message, where);
  }
  return data as T;
}

export const get = <T,>(path: string) => api<T>("GET", path);
export const post = <T,>(path: string, body?: unknown) => api<T>("POST", path, body ?? {});

/**
 * A missing endpoint (another center not landed yet) is a state to show, not a crash.
 * Only the router's own bare "Not Found" counts: a 404 the API explains (no such table,
 * no such customer) is an error to show as it is.
 */
export const isMissing = (e: unknown) =>
  e instanceof ApiError && (e.status === 405 || (e.status === 404 && e.message === "Not Found" && e.where === null));

export interface Me {
  id: string;
  kind: string;
  org_path: string;
  rm_id: string | null;
  own_customers_only: boolean;
  permissions: string[];
}

// A page's first data can be asked for while the app is still checking the session, so
// the two round trips overlap (the home page's first load). A failed prefetch (e.g. not
// signed in yet) is simply asked again.
const prefetched = new Map<string, Promise<unknown>>();

declare global {
  interface Window {
    __opsloopPrefetch?: Record<string, Promise<Response>>;
  }
}

export function prefetch(path: string): void {
  const early = window.__opsloopPrefetch?.[path]; // started by public/prefetch.js
  if (early) delete window.__opsloopPrefetch![path];
  const p = early ? early.then((r) => parse<unknown>(r)) : get<unknown>(path);
  p.catch(() => undefined);
  prefetched.set(path, p);
}

export function getPrefetched<T>(path: string): Promise<T> {
  const p = prefetched.get(path) as Promise<T> | undefined;
  prefetched.delete(path);
  return p ? p.catch(() => get<T>(path)) : get<T>(path);
}
