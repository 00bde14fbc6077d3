// The page a blocked HTTP request gets (403): who blocked it and why, when, and the request id
// to quote to an administrator. Themable per location (blockPage settings) over the bundle's
// defaults. HTML for browsers, text/plain for everything else (curl, API clients).

import type { BlockPageSettings } from "@gatehouse/contract";

export interface BlockPageInput {
  readonly status: number;
  readonly policyName: string | undefined;
  readonly reason: string;
  readonly requestId: string;
  readonly time: Date;
  readonly url: string;
}

/** A theme resolved at config time: escaped strings ready to splice. */
export interface BlockTheme {
  readonly title: string;
  readonly message: string;
  readonly color: string;
  readonly logoUrl: string;
}

const DEFAULT_TITLE = "Access blocked";
const DEFAULT_MESSAGE = "This site was blocked by your organization's web gateway.";
const DEFAULT_COLOR = "#b3261e";

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;",
  );
}

/** Merge location settings over bundle settings and escape once (config time). */
export function resolveTheme(
  bundle: BlockPageSettings | undefined,
  location: BlockPageSettings | undefined,
): BlockTheme {
  const title = location?.title ?? bundle?.title ?? DEFAULT_TITLE;
  const message = location?.message ?? bundle?.message ?? DEFAULT_MESSAGE;
  let color = location?.color ?? bundle?.color ?? DEFAULT_COLOR;
  // The schema allows `#?[A-Za-z0-9]+`: accept hex colours and CSS colour names only.
  if (!/^#?[A-Za-z0-9]{1,32}$/.test(color)) color = DEFAULT_COLOR;
  if (/^[0-9A-Fa-f]{3,8}$/.test(color)) color = `#${color}`;
  const logo = location?.logoUrl ?? bundle?.logoUrl ?? "";
  // Only http(s) logos: a `javascript:` URL in an img src must never reach the page.
  const logoUrl = /^https?:\/\//i.test(logo) ? escapeHtml(logo) : "";
  return { title: escapeHtml(title), message: escapeHtml(message), color, logoUrl };
}

export function renderBlockHtml(theme: BlockTheme, p: BlockPageInput): string {
  const policy =
    p.policyName === undefined ? "" : `<dt>Policy</dt><dd>${escapeHtml(p.policyName)}</dd>`;
  const logo = theme.logoUrl === "" ? "" : `<img src="${theme.logoUrl}" alt="" height="40">`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>${theme.title}</title>
<style>body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1c1b1f;background:#fafafa}
header{background:${theme.color};color:#fff;padding:1.25rem 2rem;display:flex;gap:1rem;align-items:center}
h1{margin:0;font-size:1.5rem}main{max-width:46rem;padding:1.5rem 2rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}
dd{margin:0;word-break:break-all}</style></head>
<body><header>${logo}<h1>${theme.title}</h1></header><main><p>${theme.message}</p>
<dl><dt>URL</dt><dd>${escapeHtml(p.url)}</dd>${policy}<dt>Reason</dt><dd>${escapeHtml(p.reason)}</dd>
<dt>Time</dt><dd>${p.time.toISOString()}</dd><dt>Request ID</dt><dd>${escapeHtml(p.requestId)}</dd></dl>
</main></body></html>
`;
}

export function renderBlockText(p: BlockPageInput): string {
  return (
    `Blocked by the web gateway (${p.status}).\n` +
    `URL: ${p.url}\n` +
    (p.policyName === undefined ? "" : `Policy: ${p.policyName}\n`) +
    `Reason: ${p.reason}\n` +
    `Time: ${p.time.toISOString()}\n` +
    `Request ID: ${p.requestId}\n`
  );
}

/** RFC 9110 §12.5.1: does the Accept header rank text/html above zero? */
export function acceptsHtml(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  for (const part of accept.split(",")) {
    const semi = part.indexOf(";");
    const type = (semi === -1 ? part : part.slice(0, semi)).trim().toLowerCase();
    if (type !== "text/html" && type !== "text/*" && type !== "*/*") continue;
    if (type === "*/*") continue; // browsers always send text/html explicitly; */* alone is curl
    const q = /;\s*q\s*=\s*([0-9.]+)/i.exec(part);
    if (q === null || Number(q[1]) > 0) return true;
  }
  return false;
}
