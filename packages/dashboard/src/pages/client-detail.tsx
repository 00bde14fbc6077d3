// One client's page (/clients/<address>): its name and location, a banner while blocking is
// paused for it (or for everyone / its location), Pause for 5 min / 1 h / until resumed, its own
// settings (blocking, safe search, DNS policies it skips — AdGuard Home's per-client settings),
// the policies that apply to it and why, and what it asked lately: totals, top allowed and
// blocked domains, and its last queries from the query log.

import { type FormEvent, useState } from "react";
import { api } from "../api.ts";
import { DURATIONS, notifyPauseChanged, untilText } from "../pause-bar.tsx";
import { Link } from "../router.tsx";
import { ACTION_LABELS, type ClientView, type SearchResult, type TopResult } from "../types.ts";
import {
  Badge,
  Checkbox,
  EmptyRow,
  ErrorBanner,
  formatTime,
  Notice,
  PageHead,
  useAction,
  useResource,
} from "../ui.tsx";
import { TopTable } from "./overview.tsx";
import { outcome, what } from "./query-log.tsx";

const DAY_MS = 86_400_000;
const RECENT = 25;
const TOP = 10;
const APPLIES: Readonly<Record<ClientView["policies"][number]["applies"], string>> = {
  always: "every client",
  client: "this client",
  identity: "by identity",
  never: "not this client",
  skipped: "skipped",
};

export function ClientDetailPage({ client, canChange }: { client: string; canChange: boolean }) {
  const view = useResource(`client|${client}`, (signal) =>
    api.get<ClientView>(`/clients/${encodeURIComponent(client)}`, undefined, signal),
  );
  const action = useAction();
  const c = view.data;
  const pause = (minutes: number | undefined) =>
    action.run(async () => {
      await api.post("/pause", { client, ...(minutes === undefined ? {} : { minutes }) });
      notifyPauseChanged();
      view.reload();
    });
  const resume = () =>
    action.run(async () => {
      await api.post("/pause/resume", { client });
      notifyPauseChanged();
      view.reload();
    });
  const now = Date.now();
  return (
    <section>
      <PageHead title={c?.name ? `${c.name} (${client})` : `Client ${client}`}>
        <Link to="/clients">All clients</Link>
      </PageHead>
      <ErrorBanner error={view.error ?? action.error} />
      {c && (
        <>
          <dl className="fields">
            <dt>Address</dt>
            <dd>{c.client}</dd>
            <dt>Name</dt>
            <dd>{c.name ?? "— (name it on the Clients page)"}</dd>
            <dt>Location</dt>
            <dd>{c.location ? c.location.name : "none: no location's networks hold it"}</dd>
          </dl>
          {c.pause && (
            <div className="pause-banner" role="status" aria-label="Client pause">
              <strong>Blocking is paused for this client</strong> {untilText(c.pause.until, now)},
              by {c.pause.pausedBy}.
              {canChange && (
                <button
                  type="button"
                  className="pause-resume"
                  disabled={action.busy}
                  onClick={resume}
                >
                  Resume for this client
                </button>
              )}
            </div>
          )}
          {c.coveredByPauses.map((p) => (
            <Notice key={p.scope}>
              Blocking is also paused for {p.scope} {untilText(p.until, now)}.
            </Notice>
          ))}
          {canChange && (
            <fieldset className="buttons" aria-label="Pause this client">
              <legend>Pause blocking for this client</legend>
              {DURATIONS.map(([label, minutes]) => (
                <button
                  key={label}
                  type="button"
                  className="secondary"
                  disabled={action.busy}
                  onClick={() => pause(minutes)}
                >
                  {label}
                </button>
              ))}
            </fieldset>
          )}
          <SettingsForm
            key={c.settings.updatedAt ?? ""}
            client={client}
            view={c}
            canChange={canChange}
            onSaved={view.reload}
          />
          <Policies view={c} />
          <Activity client={client} view={c} />
        </>
      )}
    </section>
  );
}

function SettingsForm(props: {
  client: string;
  view: ClientView;
  canChange: boolean;
  onSaved: () => void;
}) {
  const s = props.view.settings;
  const [blocking, setBlocking] = useState(s.blocking);
  const [safeSearch, setSafeSearch] = useState(s.safeSearch);
  const [skip, setSkip] = useState<readonly string[]>(s.skipPolicies);
  const save = useAction();
  const path = `/clients/${encodeURIComponent(props.client)}/settings`;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await save.run(async () => {
      await api.put(path, { blocking, safeSearch, skipPolicies: skip });
      props.onSaved();
    });
  };
  const dns = props.view.policies.filter((p) => p.type === "dns");
  return (
    <form className="card" onSubmit={submit} aria-label="Client settings">
      <h2>Settings</h2>
      <p className="hint">
        {s.updatedBy === null
          ? "This client uses the global settings."
          : `Its own settings, changed ${formatTime(s.updatedAt)} by ${s.updatedBy}.`}{" "}
        They apply to its DNS queries.
      </p>
      <Checkbox label="Blocking on" name="blocking" checked={blocking} onChange={setBlocking} />
      <Checkbox
        label="Safe search (Google, Bing, DuckDuckGo, YouTube…)"
        name="safeSearch"
        checked={safeSearch}
        onChange={setSafeSearch}
      />
      {dns.length > 0 && (
        <fieldset>
          <legend>DNS policies this client skips</legend>
          {dns.map((p) => (
            <Checkbox
              key={p.id}
              label={`Skip ${p.name}`}
              name={`skip-${p.id}`}
              checked={skip.includes(p.id)}
              onChange={(on) => setSkip(on ? [...skip, p.id] : skip.filter((id) => id !== p.id))}
            />
          ))}
        </fieldset>
      )}
      <ErrorBanner error={save.error} />
      {props.canChange && (
        <div className="buttons">
          <button type="submit" className="primary" disabled={save.busy}>
            Save settings
          </button>
          {s.updatedBy !== null && (
            <button
              type="button"
              disabled={save.busy}
              onClick={() =>
                save.run(async () => {
                  // The defaults are the global settings.
                  await api.put(path, { blocking: true, safeSearch: false, skipPolicies: [] });
                  props.onSaved();
                })
              }
            >
              Use global settings
            </button>
          )}
        </div>
      )}
    </form>
  );
}

function Policies({ view }: { view: ClientView }) {
  return (
    <>
      <h2>Policies</h2>
      <p className="hint">
        Each enabled policy's expression evaluated with this client's location and address known
        (the query itself unknown): whether it can match this client's queries.
      </p>
      <table aria-label="Policies for this client">
        <thead>
          <tr>
            <th>Policy</th>
            <th>Type</th>
            <th>Action</th>
            <th>Applies</th>
            <th>Why</th>
          </tr>
        </thead>
        <tbody>
          {view.policies.map((p) => (
            <tr key={p.id}>
              <td>{p.name}</td>
              <td>{p.type}</td>
              <td>{p.action}</td>
              <td>
                <Badge value={p.applies} text={APPLIES[p.applies]} />
              </td>
              <td>{p.why}</td>
            </tr>
          ))}
          <EmptyRow cols={5} show={view.policies.length === 0}>
            No policy is enabled.
          </EmptyRow>
        </tbody>
      </table>
    </>
  );
}

function Activity({ client, view }: { client: string; view: ClientView }) {
  const from = useState(() => Date.now() - DAY_MS)[0];
  const q = { client, from };
  const recent = useResource(`client-recent|${client}`, (signal) =>
    api.get<SearchResult>("/analytics/logs", { ...q, limit: RECENT }, signal),
  );
  const top = useResource(`client-top|${client}`, (signal) =>
    api.get<TopResult>("/analytics/top", { ...q, dimension: "domain", limit: TOP }, signal),
  );
  const blocked = useResource(`client-blocked|${client}`, (signal) =>
    api.get<TopResult>("/analytics/top", { ...q, dimension: "blocked_domain", limit: TOP }, signal),
  );
  const a = view.activity;
  if (a === null) return <Notice>This control keeps no query log: no activity to show.</Notice>;
  const records = recent.data?.records ?? [];
  return (
    <>
      <h2>Last 24 hours</h2>
      <p>
        {a.total.toLocaleString()} queries, {a.blocked.toLocaleString()} blocked
        {a.lastSeen && <>; last seen {formatTime(a.lastSeen)}</>}.{" "}
        <Link to={`/logs?client=${encodeURIComponent(client)}`}>All its queries</Link>
      </p>
      {a.seenAs.some((s) => s.identity || s.device) && (
        <p className="hint">
          Seen as:{" "}
          {a.seenAs
            .map((s) => [s.device, s.identity, s.location].filter(Boolean).join(" / ") || "—")
            .join(", ")}
        </p>
      )}
      <div className="columns">
        {top.data && (
          <TopTable title="Top domains" result={top.data} filter="domainSuffix" also={{ client }} />
        )}
        {blocked.data && (
          <TopTable
            title="Top blocked domains"
            result={blocked.data}
            filter="domainSuffix"
            action="block"
            also={{ client }}
          />
        )}
      </div>
      <ErrorBanner error={recent.error ?? top.error ?? blocked.error} />
      <h2>Recent queries</h2>
      <table aria-label="Recent queries" className="log">
        <thead>
          <tr>
            <th>Time</th>
            <th>Domain / URL</th>
            <th>Type</th>
            <th>Action</th>
            <th>Policy</th>
            <th>Result</th>
          </tr>
        </thead>
        <tbody>
          {records.map((r) => (
            <tr key={`${r.ts}|${r.id}|${r.edgeId ?? ""}`}>
              <td className="nowrap">{formatTime(r.ts)}</td>
              <td className="wrap">{what(r)}</td>
              <td>{r.qtype ?? r.method ?? ""}</td>
              <td>
                <Badge value={r.action} text={ACTION_LABELS[r.action]} />
              </td>
              <td>{r.policyName ?? ""}</td>
              <td>
                {outcome(r)}
                {r.reason && r.rcode && <div className="hint">{r.reason.replaceAll("_", " ")}</div>}
              </td>
            </tr>
          ))}
          <EmptyRow cols={6} show={!!recent.data && records.length === 0}>
            No queries in the last 24 hours.
          </EmptyRow>
        </tbody>
      </table>
    </>
  );
}
