// The control API as the dashboard uses it: same origin, `/api/v1`, either the session cookie of
// a password sign-in (HttpOnly: this code never sees it; changes carry the session's CSRF token
// in X-CSRF-Token) or an API token from sessionStorage as a bearer token. Every failure becomes
// an ApiError with the API's stable `GH_ERR_*` code; a 401 also signs the user out (the session
// or token was refused or has expired).

export const API_BASE = "/api/v1";
const TOKEN_KEY = "gatehouse.apiToken";
/** Longest a request may take before the UI reports it (list uploads included). */
const TIMEOUT_MS = 60_000;

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The CSRF token of the password session (from sign-in or GET /auth/session); memory only. */
let csrfToken: string | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/**
 * Requests made when the user has not touched the page for this long are the page's own
 * polling: they say so (X-Gatehouse-Background), and control does not count them as use of
 * the session, so an idle tab signs out when the session's idle timeout says.
 */
const IDLE_AFTER_MS = 60_000;
let lastInput = Date.now();

/** Note that the user did something (main.tsx calls this on key presses and clicks). */
export function noteUserInput(): void {
  lastInput = Date.now();
}

export interface RuleSpan {
  /** Offset into the expression in UTF-16 code units (as JavaScript strings index). */
  start: number;
  length: number;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** The rules engine's span of a 422 GH_ERR_INVALID_RULE, when there is one. */
  get span(): RuleSpan | undefined {
    const d = this.details as { span?: RuleSpan } | undefined;
    const s = d?.span;
    return s && typeof s.start === "number" && typeof s.length === "number" ? s : undefined;
  }

  /** The JSON pointer a validation error names (e.g. "/networks/1"), when there is one. */
  get path(): string | undefined {
    const d = this.details as { path?: unknown } | unknown[] | undefined;
    if (Array.isArray(d)) {
      const first = d[0] as { path?: unknown } | undefined;
      return typeof first?.path === "string" ? first.path : undefined;
    }
    return typeof d?.path === "string" ? d.path : undefined;
  }
}

type Unauthorized = (message: string) => void;
let onUnauthorized: Unauthorized = () => {};

/** Called (once per refused request) when the API answers 401. */
export function setUnauthorizedHandler(fn: Unauthorized): void {
  onUnauthorized = fn;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, q: Query = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q))
    if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `${path}?${s}` : path;
}

interface RequestOptions {
  /** A JSON-serialisable body, or text sent as text/plain (list items). */
  body?: unknown;
  text?: string;
  /** Bytes sent as they are (a file), as application/octet-stream. */
  bytes?: Blob;
  signal?: AbortSignal;
  /** Use this token instead of the stored one (sign-in checks a token before keeping it). */
  token?: string;
  /** A 401 is this request's answer, not a sign-out (the sign-in form, the session check). */
  noSignOut?: boolean;
}

export async function request<T>(
  method: string,
  path: string,
  opts: RequestOptions = {},
): Promise<T> {
  const token = opts.token ?? getToken();
  const headers: Record<string, string> = { accept: "application/json" };
  if (Date.now() - lastInput > IDLE_AFTER_MS) headers["x-gatehouse-background"] = "1";
  if (token) headers["authorization"] = `Bearer ${token}`;
  else if (csrfToken && method !== "GET" && method !== "HEAD") headers["x-csrf-token"] = csrfToken;
  let body: string | Blob | undefined;
  if (opts.bytes !== undefined) {
    headers["content-type"] = "application/octet-stream";
    body = opts.bytes;
  } else if (opts.text !== undefined) {
    headers["content-type"] = "text/plain; charset=utf-8";
    body = opts.text;
  } else if (opts.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  const timeout = AbortSignal.timeout(TIMEOUT_MS);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: Response;
  try {
    // The session cookie goes along only when no token is used.
    res = await fetch(API_BASE + path, {
      method,
      headers,
      body,
      signal,
      credentials: token ? "omit" : "same-origin",
    });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    const why = timeout.aborted
      ? `no answer within ${TIMEOUT_MS / 1000} s`
      : "the network request failed";
    throw new ApiError(0, "GH_ERR_NETWORK", `Cannot reach control: ${why}.`);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = (
      json as { error?: { code?: string; message?: string; details?: unknown } } | undefined
    )?.error;
    const err = new ApiError(
      res.status,
      e?.code ?? `HTTP_${res.status}`,
      e?.message ?? `${res.status} ${res.statusText}`,
      e?.details,
    );
    if (res.status === 401 && opts.token === undefined && !opts.noSignOut)
      onUnauthorized(err.message);
    throw err;
  }
  return json as T;
}

export const api = {
  get: <T>(path: string, q?: Query, signal?: AbortSignal) =>
    request<T>("GET", withQuery(path, q), signal ? { signal } : {}),
  post: <T>(path: string, body?: unknown) =>
    request<T>("POST", path, body === undefined ? {} : { body }),
  postText: <T>(path: string, text: string) => request<T>("POST", path, { text }),
  postBytes: <T>(path: string, bytes: Blob) => request<T>("POST", path, { bytes }),
  patch: <T>(path: string, body: unknown) => request<T>("PATCH", path, { body }),
  put: <T>(path: string, body: unknown) => request<T>("PUT", path, { body }),
  del: (path: string) => request<void>("DELETE", path),
};

/** What a failure says to a person. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 403) return `Not allowed: ${err.message}.`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
