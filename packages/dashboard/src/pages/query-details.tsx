// One query-log record in full: every field, the policy that decided and its expression, the
// answer; and one-click Block / Allow of its name (POST /quick-rules, published at once), with
// an undo for the change just made.

import { useState } from "react";
import { ApiError, api } from "../api.ts";
import { Link } from "../router.tsx";
import { ACTION_LABELS, type LogRecord, type Policy, type QuickRuleResult } from "../types.ts";
import { Badge, ErrorBanner, formatTime, Notice, useAction, useResource } from "../ui.tsx";

/** Where a domain and a client link to: the log filtered by them. */
export const domainLink = (d: string) => `/logs?domainSuffix=${encodeURIComponent(d)}`;
export const clientLink = (c: string) => `/logs?client=${encodeURIComponent(c)}`;

/** The name a record is about (what Block and Allow act on), when it has one. */
export function domainOf(r: LogRecord): string | undefined {
  const d = r.kind === "dns" ? r.qname : (r.sni ?? r.host);
  if (!d) return undefined;
  const name = d.endsWith(".") ? d.slice(0, -1) : d;
  // An address is no name: the managed lists hold domains only.
  return /^[0-9.]+$|:/.test(name) || name === "" ? undefined : name;
}

/** Every field of a record, in reading order, with what it is called here. */
const FIELDS: readonly (readonly [keyof LogRecord, string])[] = [
  ["ts", "Time"],
  ["kind", "Kind"],
  ["transport", "Transport"],
  ["client", "Client"],
  ["device", "Device"],
  ["identity", "Identity"],
  ["location", "Location"],
  ["qname", "Name"],
  ["qtype", "Type"],
  ["method", "Method"],
  ["host", "Host"],
  ["sni", "TLS name (SNI)"],
  ["url", "URL"],
  ["action", "Action"],
  ["policyName", "Policy"],
  ["policyId", "Policy id"],
  ["list", "Matched list"],
  ["reason", "Reason"],
  ["rcode", "Response code"],
  ["cnames", "CNAME chain"],
  ["answer", "Answer"],
  ["status", "HTTP status"],
  ["cache", "Cache"],
  ["dnssec", "DNSSEC"],
  ["ede", "Extended DNS error"],
  ["upstream", "Upstream"],
  ["upstreamAddr", "Upstream address"],
  ["bytesUp", "Bytes sent"],
  ["bytesDown", "Bytes received"],
  ["durationMs", "Duration (ms)"],
  ["edgeId", "Edge"],
  ["id", "Record id"],
];

function shown(r: LogRecord, k: keyof LogRecord) {
  const v = r[k];
  if (v === undefined || v === null || v === "") return undefined;
  if (k === "ts") return formatTime(r.ts);
  if (k === "client")
    return (
      <>
        <Link to={clientLink(r.client)}>{r.client}</Link>{" "}
        <Link to={`/clients/${encodeURIComponent(r.client)}`}>(client page)</Link>
      </>
    );
  if (k === "action") return <Badge value={r.action} text={ACTION_LABELS[r.action]} />;
  if (k === "list") return <code>${String(v)}</code>;
  if ((k === "qname" || k === "host" || k === "sni") && typeof v === "string")
    return <Link to={domainLink(v.replace(/\.$/, ""))}>{v}</Link>;
  if (k === "durationMs") return r.durationMs.toFixed(2);
  if (k === "cnames" && typeof v === "string")
    return <code>{[r.qname ?? "", ...v.split(" ")].join(" → ")}</code>;
  if (k === "answer" && typeof v === "string")
    return (
      <ul className="plain">
        {v.split(", ").map((a, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: the answer's records in order
          <li key={i}>
            <code>{a}</code>
          </li>
        ))}
      </ul>
    );
  return String(v);
}

/** Why the record ended as it did, in a sentence. */
function why(r: LogRecord, policy: Policy | undefined): string {
  if (r.policyName || r.policyId) {
    const name = r.policyName ?? policy?.name ?? r.policyId;
    const via = r.list ? ` through $${r.list}` : "";
    return `The ${policy?.type ?? r.kind} policy "${name}" matched${via}: ${ACTION_LABELS[r.action]}.`;
  }
  if (r.action === "allow") return "No policy matched: allowed (the default).";
  if (r.reason) return `${ACTION_LABELS[r.action]}: ${r.reason.replaceAll("_", " ")}.`;
  return `${ACTION_LABELS[r.action]}.`;
}

const DONE: Readonly<Record<QuickRuleResult["action"], string>> = {
  block: "Blocked",
  allow: "Allowed",
};

export function QueryDetails(props: { record: LogRecord; onClose: () => void }) {
  const r = props.record;
  const domain = domainOf(r);
  const policy = useResource<Policy | undefined>(`policy|${r.policyId ?? ""}`, (signal) =>
    r.policyId
      ? api.get<Policy>(`/policies/${encodeURIComponent(r.policyId)}`, undefined, signal)
      : Promise.resolve(undefined),
  );
  // A policy deleted since the query is no error worth a banner.
  const policyGone = policy.error instanceof ApiError && policy.error.status === 404;
  const action = useAction();
  const [done, setDone] = useState<QuickRuleResult | undefined>(undefined);
  const [undone, setUndone] = useState<string | undefined>(undefined);

  const quick = (what: QuickRuleResult["action"]) =>
    action.run(async () => {
      setUndone(undefined);
      setDone(await api.post<QuickRuleResult>("/quick-rules", { domain, action: what }));
    });
  const undo = () =>
    action.run(async () => {
      if (!done) return;
      const r1 = await api.post<QuickRuleResult>("/quick-rules/remove", {
        domain: done.domain,
        action: done.action,
      });
      // The name came out of the other list when it went into this one: put it back.
      const r2 = done.removedFrom
        ? await api.post<QuickRuleResult>("/quick-rules", {
            domain: done.domain,
            action: done.removedFrom,
          })
        : r1;
      setDone(undefined);
      setUndone(
        `Undone: ${done.domain} is no longer ${done.action === "block" ? "blocked" : "allowed"} by admin${
          r2.publishedVersion !== null ? ` (version ${r2.publishedVersion})` : ""
        }.`,
      );
    });

  return (
    <section className="card details" aria-label="Query details">
      <header className="page-head">
        <h2>{domain ?? r.url ?? r.client}</h2>
        <div className="buttons">
          {domain && (
            <>
              <button
                type="button"
                className="danger"
                disabled={action.busy}
                onClick={() => quick("block")}
              >
                Block
              </button>
              <button type="button" disabled={action.busy} onClick={() => quick("allow")}>
                Allow
              </button>
            </>
          )}
          <button type="button" onClick={props.onClose}>
            Close
          </button>
        </div>
      </header>
      {done && (
        <Notice>
          {DONE[done.action]} {done.domain} and its subdomains
          {done.changed ? "" : " (it already was)"}
          {done.removedFrom
            ? ` (taken out of the ${done.removedFrom === "block" ? "blocked" : "allowed"} names)`
            : ""}
          {done.publishedVersion !== null
            ? `; published as version ${done.publishedVersion}.`
            : `; not published: ${done.publishError ?? "the configuration does not compile"}.`}{" "}
          <button type="button" onClick={undo} disabled={action.busy}>
            Undo
          </button>
        </Notice>
      )}
      {undone && <Notice>{undone}</Notice>}
      <ErrorBanner error={action.error} />
      <p className="why">{why(r, policy.data)}</p>
      {policy.data && (
        <p>
          <span className="hint">Its expression: </span>
          <code className="expr">{policy.data.expression}</code>
        </p>
      )}
      {policyGone && <p className="hint">That policy has been deleted since.</p>}
      {!policyGone && <ErrorBanner error={policy.error} />}
      <dl className="fields">
        {FIELDS.map(([k, label]) => {
          const v = shown(r, k);
          if (v === undefined) return null;
          return (
            <div key={k}>
              <dt>{label}</dt>
              <dd>{v}</dd>
            </div>
          );
        })}
      </dl>
    </section>
  );
}
