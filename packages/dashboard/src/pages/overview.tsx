// Overview: queries over time (allowed, blocked, other) and the top domains, blocked domains
// and clients, from the query log's analytics routes.

import { useState } from "react";
import { ApiError, api } from "../api.ts";
import { Link } from "../router.tsx";
import { type Bar, BUCKET_MS, bars } from "../series.ts";
import type { TimeseriesResult, TopResult } from "../types.ts";
import { ErrorBanner, Notice, useResource } from "../ui.tsx";
import { useClientNames } from "./clients.tsx";

const RANGES = {
  "1h": { label: "Last hour", ms: 3_600_000, bucket: "minute" },
  "24h": { label: "Last 24 hours", ms: 86_400_000, bucket: "hour" },
  "7d": { label: "Last 7 days", ms: 7 * 86_400_000, bucket: "day" },
  "30d": { label: "Last 30 days", ms: 30 * 86_400_000, bucket: "day" },
} as const;
type RangeKey = keyof typeof RANGES;
const POLL_MS = 30_000;

/** Series the chart draws, bottom to top; every other action counts as "other". */
const SERIES = [
  { key: "allow", label: "Allowed", className: "s-allow" },
  { key: "block", label: "Blocked", className: "s-block" },
  { key: "other", label: "Other (override, refused, error…)", className: "s-other" },
] as const;

export function OverviewPage() {
  const [range, setRange] = useState<RangeKey>("24h");
  const r = RANGES[range];
  const data = useResource(
    `overview|${range}`,
    async (signal) => {
      const to = Date.now();
      const from = to - r.ms;
      const q = { from, to };
      const [series, domains, blocked, clients] = await Promise.all([
        api.get<TimeseriesResult>(
          "/analytics/timeseries",
          { ...q, bucket: r.bucket, by: "action" },
          signal,
        ),
        api.get<TopResult>("/analytics/top", { ...q, dimension: "domain", limit: 10 }, signal),
        api.get<TopResult>(
          "/analytics/top",
          { ...q, dimension: "blocked_domain", limit: 10 },
          signal,
        ),
        api.get<TopResult>("/analytics/top", { ...q, dimension: "client", limit: 10 }, signal),
      ]);
      return { from, to, series, domains, blocked, clients };
    },
    POLL_MS,
  );
  const clients = useClientNames();
  const notEnabled = data.error instanceof ApiError && data.error.status === 404;
  const d = data.data;
  const b = d ? bars(d.series, d.from, d.to, BUCKET_MS[r.bucket]) : [];
  const total = b.reduce((n, x) => n + x.allow + x.block + x.other, 0);
  const blockedCount = b.reduce((n, x) => n + x.block, 0);
  return (
    <section>
      <header className="page-head">
        <h1>Overview</h1>
        <label className="inline">
          Range
          <select value={range} onChange={(e) => setRange(e.target.value as RangeKey)}>
            {Object.entries(RANGES).map(([k, v]) => (
              <option key={k} value={k}>
                {v.label}
              </option>
            ))}
          </select>
        </label>
      </header>
      {notEnabled ? (
        <Notice>
          This control has no query-log store, so there is nothing to chart. <code>npm start</code>{" "}
          and <code>gatehouse control</code> keep one in the data directory.
        </Notice>
      ) : (
        <ErrorBanner error={data.error} />
      )}
      {d && (
        <>
          <div className="stats">
            <Stat label="Queries" value={total} />
            <Stat label="Blocked" value={blockedCount} />
            <Stat
              label="Blocked share"
              text={total ? `${((100 * blockedCount) / total).toFixed(1)} %` : "—"}
            />
            <Stat label="Allowed" value={b.reduce((n, x) => n + x.allow, 0)} />
          </div>
          <Chart bars={b} bucket={r.bucket} />
          <div className="columns three">
            <TopTable title="Top domains" result={d.domains} filter="domainSuffix" />
            <TopTable
              title="Top blocked domains"
              result={d.blocked}
              filter="domainSuffix"
              action="block"
            />
            <TopTable
              title="Top clients"
              result={d.clients}
              filter="client"
              labelOf={clients.nameOf}
            />
          </div>
        </>
      )}
    </section>
  );
}

function Stat(props: { label: string; value?: number; text?: string | undefined }) {
  return (
    <div className="stat">
      <div className="stat-value">{props.text ?? (props.value ?? 0).toLocaleString()}</div>
      <div className="stat-label">{props.label}</div>
    </div>
  );
}

function Chart({ bars: data, bucket }: { bars: Bar[]; bucket: keyof typeof BUCKET_MS }) {
  const W = 900;
  const H = 220;
  const pad = { l: 48, r: 8, t: 8, b: 24 };
  const max = Math.max(1, ...data.map((x) => x.allow + x.block + x.other));
  const bw = data.length ? (W - pad.l - pad.r) / data.length : 0;
  const y = (v: number) => ((H - pad.t - pad.b) * v) / max;
  const label = (t: number) => {
    const d = new Date(t);
    return bucket === "day"
      ? d.toLocaleDateString(undefined, { month: "short", day: "numeric" })
      : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  };
  const every = Math.max(1, Math.ceil(data.length / 8));
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Queries over time by action">
        <line x1={pad.l} x2={W - pad.r} y1={H - pad.b} y2={H - pad.b} className="axis" />
        <text x={pad.l - 6} y={pad.t + 10} textAnchor="end" className="tick">
          {max.toLocaleString()}
        </text>
        <text x={pad.l - 6} y={H - pad.b} textAnchor="end" className="tick">
          0
        </text>
        {data.map((x, i) => {
          let base = H - pad.b;
          const x0 = pad.l + i * bw + Math.min(1, bw * 0.1);
          const w = Math.max(1, bw - Math.min(2, bw * 0.2));
          return (
            <g key={x.t}>
              <title>{`${label(x.t)}: ${x.allow} allowed, ${x.block} blocked, ${x.other} other`}</title>
              {SERIES.map((s) => {
                const h = y(x[s.key]);
                base -= h;
                return h > 0 ? (
                  <rect key={s.key} x={x0} y={base} width={w} height={h} className={s.className} />
                ) : null;
              })}
              {i % every === 0 && (
                <text x={x0 + w / 2} y={H - 6} textAnchor="middle" className="tick">
                  {label(x.t)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption>
        {SERIES.map((s) => (
          <span key={s.key} className="legend">
            <span className={`swatch ${s.className}`} /> {s.label}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

export function TopTable(props: {
  title: string;
  result: TopResult;
  filter: "domainSuffix" | "client";
  action?: string;
  /** More query-log filters for the links (e.g. the client on a client's page). */
  also?: Readonly<Record<string, string>>;
  /** A name for a key (a client's given name), shown with the key under it. */
  labelOf?: (key: string) => string | undefined;
}) {
  const max = Math.max(1, ...props.result.entries.map((e) => e.count));
  const link = (key: string) => {
    const q = new URLSearchParams({ ...props.also, [props.filter]: key });
    if (props.action) q.set("action", props.action);
    return `/logs?${q}`;
  };
  return (
    <div>
      <h2>{props.title}</h2>
      <table className="top" aria-label={props.title}>
        <tbody>
          {props.result.entries.map((e) => (
            <tr key={e.key}>
              <td>
                <Link to={link(e.key)}>{props.labelOf?.(e.key) ?? e.label ?? e.key}</Link>
                {props.labelOf?.(e.key) !== undefined && <span className="hint"> {e.key}</span>}
                <svg
                  className="meter"
                  viewBox="0 0 100 4"
                  preserveAspectRatio="none"
                  aria-hidden="true"
                >
                  <rect width={(100 * e.count) / max} height={4} />
                </svg>
              </td>
              <td className="num">{e.count.toLocaleString()}</td>
            </tr>
          ))}
          {props.result.entries.length === 0 && (
            <tr>
              <td className="empty">No queries in this range.</td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
