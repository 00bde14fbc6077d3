// Query log: newest first, filtered by domain, client, action and kind, paged by cursor. The
// filters live in the URL (the overview's top tables link here with one set).

import { type FormEvent, useState } from "react";
import { ApiError, api } from "../api.ts";
import { Link, navigate, useLocation } from "../router.tsx";
import { ACTION_LABELS, type LogRecord, type SearchResult } from "../types.ts";
import {
  Badge,
  CursorPager,
  EmptyRow,
  ErrorBanner,
  formatTime,
  Notice,
  SelectField,
  TextField,
  useCursorPages,
  useResource,
} from "../ui.tsx";
import { useClientNames } from "./clients.tsx";
import { clientLink, domainLink, domainOf, QueryDetails } from "./query-details.tsx";

const FILTERS = ["domainSuffix", "domainPrefix", "client", "action", "kind", "from", "to"] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;
const TEXT_FILTERS = [
  ["domainSuffix", "Domain (and subdomains)", "example.com"],
  ["domainPrefix", "Domain starts with", "ads."],
  ["client", "Client", "192.168.1.10"],
] as const;
const TIME_FILTERS = [
  ["from", "From"],
  ["to", "To"],
] as const;
const ACTION_OPTIONS: readonly (readonly [string, string])[] = [
  ["", "any"],
  ...Object.entries(ACTION_LABELS),
];
const KIND_OPTIONS = [
  ["", "any"],
  ["dns", "DNS"],
  ["http", "HTTP"],
  ["net", "Network"],
] as const;
const SELECT_FILTERS = [
  ["action", "Action", ACTION_OPTIONS],
  ["kind", "Kind", KIND_OPTIONS],
] as const;
const PAGE_SIZE = 50;
/** How often "Follow new queries" asks for the newest page. */
const LIVE_MS = 3000;
const DEFAULT_RANGE_MS = 7 * 86_400_000;

function filtersOf(q: URLSearchParams): Filters {
  const f: Filters = {};
  for (const k of FILTERS) {
    const v = q.get(k);
    if (v) f[k] = v;
  }
  return f;
}

/** What a record asked for, linked to the log filtered by its domain when it has one. */
function DomainCell({ record, text }: { record: LogRecord; text: string }) {
  const domain = domainOf(record);
  return domain ? <Link to={domainLink(domain)}>{text}</Link> : <>{text}</>;
}

export function what(r: LogRecord): string {
  if (r.kind === "dns") return r.qname ?? "";
  if (r.kind === "http") return r.url ?? r.host ?? "";
  return r.sni ?? r.host ?? "";
}

export function outcome(r: LogRecord): string {
  if (r.rcode) return r.rcode;
  if (r.status !== undefined) return String(r.status);
  return r.reason ?? "";
}

/** datetime-local value ↔ ms since the epoch (local time, as the user typed it). */
const toLocalInput = (ms: string | undefined) => {
  if (!ms) return "";
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};
const fromLocalInput = (v: string) => (v ? String(new Date(v).getTime()) : "");

export function QueryLogPage() {
  const { query } = useLocation();
  const filters = filtersOf(query);
  const key = JSON.stringify(filters);
  const pages = useCursorPages(key);
  const [draft, setDraft] = useState<Filters>(filters);
  const [draftKey, setDraftKey] = useState(key);
  if (draftKey !== key) {
    // The URL changed (a link, back/forward): the form follows it.
    setDraft(filters);
    setDraftKey(key);
  }
  const [live, setLive] = useState(false);
  // Following new queries makes sense on the first page only (a later page is a fixed window).
  const following = live && pages.page === 1;
  const clients = useClientNames();
  const log = useResource(
    `logs|${key}|${pages.cursor ?? ""}`,
    (signal) => {
      const from = filters.from ?? String(Date.now() - DEFAULT_RANGE_MS);
      return api.get<SearchResult>(
        "/analytics/logs",
        { ...filters, from, limit: PAGE_SIZE, cursor: pages.cursor },
        signal,
      );
    },
    following ? LIVE_MS : undefined,
  );
  const apply = (e: FormEvent) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const k of FILTERS) {
      const v = draft[k]?.trim();
      if (v) q.set(k, v);
    }
    const s = q.toString();
    navigate(s ? `/logs?${s}` : "/logs");
  };
  const set = (k: keyof Filters, v: string) => setDraft((d) => ({ ...d, [k]: v }));
  const notEnabled = log.error instanceof ApiError && log.error.status === 404;
  const records = log.data?.records ?? [];
  const keyOf = (r: LogRecord) => `${r.edgeId ?? ""}:${r.id}:${r.ts}`;
  const [open, setOpen] = useState<LogRecord | undefined>(undefined);
  return (
    <section>
      <header className="page-head">
        <h1>Query log</h1>
        <div className="buttons">
          <label className="inline">
            <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} />
            Follow new queries
          </label>
          <button type="button" onClick={log.reload} disabled={log.loading}>
            Refresh
          </button>
        </div>
      </header>
      <form className="filters" onSubmit={apply} aria-label="Filters">
        {TEXT_FILTERS.map(([k, label, placeholder]) => (
          <TextField
            key={k}
            label={label}
            name={k}
            type="search"
            placeholder={placeholder}
            value={draft[k] ?? ""}
            onChange={(v) => set(k, v)}
          />
        ))}
        {SELECT_FILTERS.map(([k, label, options]) => (
          <SelectField
            key={k}
            label={label}
            name={k}
            value={draft[k] ?? ""}
            onChange={(v) => set(k, v)}
            options={options}
          />
        ))}
        {TIME_FILTERS.map(([k, label]) => (
          <TextField
            key={k}
            label={label}
            type="datetime-local"
            value={toLocalInput(draft[k])}
            onChange={(v) => set(k, fromLocalInput(v))}
          />
        ))}
        <div className="buttons">
          <button type="submit" className="primary">
            Search
          </button>
          <button type="button" onClick={() => navigate("/logs")}>
            Clear
          </button>
        </div>
      </form>
      {!filters.from && <p className="hint">Showing the last 7 days unless you pick a range.</p>}
      {notEnabled ? (
        <Notice>This control has no query-log store.</Notice>
      ) : (
        <ErrorBanner error={log.error} />
      )}
      {open && <QueryDetails key={keyOf(open)} record={open} onClose={() => setOpen(undefined)} />}
      <table aria-label="Query log" className="log">
        <thead>
          <tr>
            <th>Time</th>
            <th>Client</th>
            <th>Kind</th>
            <th>Domain / URL</th>
            <th>Type</th>
            <th>Action</th>
            <th>Policy</th>
            <th>Result</th>
            <th className="num">ms</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {records.map((r) => (
            <tr
              key={keyOf(r)}
              className={open && keyOf(open) === keyOf(r) ? "selected" : undefined}
            >
              <td className="nowrap">{formatTime(r.ts)}</td>
              <td>
                <Link to={clientLink(r.client)}>
                  {r.device ?? clients.nameOf(r.client) ?? r.client}
                </Link>
                {(r.device ?? clients.nameOf(r.client)) !== undefined && (
                  <div className="hint">{r.client}</div>
                )}
                {r.identity && <div className="hint">{r.identity}</div>}
              </td>
              <td>
                {r.kind}
                <div className="hint">{r.transport}</div>
              </td>
              <td className="wrap">
                <DomainCell record={r} text={what(r)} />
              </td>
              <td>{r.qtype ?? r.method ?? ""}</td>
              <td>
                <Badge value={r.action} text={ACTION_LABELS[r.action]} />
              </td>
              <td>
                {r.policyName ?? ""}
                {r.list && <div className="hint">${r.list}</div>}
              </td>
              <td>
                {outcome(r)}
                {r.cache === "hit" && <div className="hint">cached</div>}
              </td>
              <td className="num">{r.durationMs.toFixed(1)}</td>
              <td className="actions">
                <button
                  type="button"
                  title={`Details of ${what(r) || r.id}`}
                  onClick={() => setOpen(r)}
                >
                  Details
                </button>
              </td>
            </tr>
          ))}
          <EmptyRow cols={10} show={!!log.data && records.length === 0}>
            No queries match.
          </EmptyRow>
        </tbody>
      </table>
      <CursorPager pages={pages} nextCursor={log.data?.nextCursor} />
    </section>
  );
}
