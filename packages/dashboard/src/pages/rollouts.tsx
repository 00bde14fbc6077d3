// Rollouts: the account's rollout plan (stages chosen by label, edge ids or a percentage, each
// with a bake time, and the health gates' thresholds), the current rollout (its stage, which
// edges run the new version and which are held on the old one, every gate's reading with its
// numbers, and the gate that stopped it), and the hand controls: pause, resume, promote now,
// abort, and the audited emergency publish to every edge at once. Refreshes every 3 s.

import { type FormEvent, useState } from "react";
import { api } from "../api.ts";
import type { Edge, Page, Rollout, RolloutPlan } from "../types.ts";
import {
  Badge,
  ConfirmButton,
  EmptyRow,
  ErrorBanner,
  formatTime,
  Notice,
  SelectField,
  TextField,
  useAction,
  useResource,
} from "../ui.tsx";

const POLL_MS = 3000;

type Stage = RolloutPlan["stages"][number];
type Gates = NonNullable<RolloutPlan["gates"]>;
type Selector = "rest" | "labels" | "ids" | "percent";

/** One stage as the form edits it (text fields; parsed on save). */
interface StageRow {
  name: string;
  selector: Selector;
  value: string;
  bake: string;
}

const SELECTORS: readonly (readonly [Selector, string])[] = [
  ["labels", "edges with labels"],
  ["ids", "edges by id"],
  ["percent", "a percentage of the edges"],
  ["rest", "every edge not yet released"],
];

/** The gate thresholds the form offers: key, label, default. */
const GATE_FIELDS: readonly (readonly [keyof Gates, string, number])[] = [
  ["minQueries", "Queries needed to judge", 100],
  ["servfailRatioMax", "SERVFAIL ratio max", 0.05],
  ["servfailRatioDelta", "SERVFAIL ratio increase allowed", 0.02],
  ["blockedRatioMax", "Blocked ratio max", 0.5],
  ["blockedRatioDelta", "Blocked ratio increase allowed", 0.2],
  ["upstreamErrorRatioMax", "Upstream error ratio max", 0.05],
  ["upstreamErrorRatioDelta", "Upstream error ratio increase allowed", 0.02],
  ["proxyErrorRatioMax", "Proxy 5xx ratio max", 0.05],
  ["proxyErrorRatioDelta", "Proxy 5xx ratio increase allowed", 0.02],
  ["minProxyRequests", "Proxy requests needed to judge", 100],
  ["p99LatencyMsMax", "p99 latency max (ms)", 500],
  ["p99LatencyFactor", "p99 latency factor over the old version", 2],
];

function rowOf(s: Stage): StageRow {
  const bake = String(s.bakeSeconds);
  if (s.labels && Object.keys(s.labels).length > 0)
    return {
      name: s.name,
      selector: "labels",
      value: Object.entries(s.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(", "),
      bake,
    };
  if (s.edgeIds && s.edgeIds.length > 0)
    return { name: s.name, selector: "ids", value: s.edgeIds.join(", "), bake };
  if (s.percent !== undefined)
    return { name: s.name, selector: "percent", value: String(s.percent), bake };
  return { name: s.name, selector: "rest", value: "", bake };
}

/** The plan a set of rows and gate fields make; throws with what is wrong. */
function planOf(rows: StageRow[], gates: Record<string, string>): RolloutPlan {
  if (rows.length === 0) throw new Error("a plan needs at least one stage");
  const stages = rows.map((r, i): Stage => {
    const where = `stage ${i + 1}`;
    const name = r.name.trim();
    if (!name) throw new Error(`${where}: give it a name`);
    const bake = Number(r.bake);
    if (r.bake.trim() === "" || !Number.isFinite(bake) || bake < 0)
      throw new Error(`${where}: the bake time is seconds, 0 or more`);
    const base = { name, bakeSeconds: bake };
    if (r.selector === "labels") {
      const labels: Record<string, string> = {};
      for (const part of r.value.split(",").map((x) => x.trim())) {
        if (!part) continue;
        const eq = part.indexOf("=");
        if (eq <= 0) throw new Error(`${where}: labels are key=value, comma-separated`);
        labels[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
      }
      if (Object.keys(labels).length === 0) throw new Error(`${where}: name at least one label`);
      return { ...base, labels };
    }
    if (r.selector === "ids") {
      const edgeIds = r.value.split(/[\s,]+/).filter((x) => x !== "");
      if (edgeIds.length === 0) throw new Error(`${where}: list at least one edge id`);
      return { ...base, edgeIds };
    }
    if (r.selector === "percent") {
      const percent = Number(r.value);
      if (!Number.isInteger(percent) || percent < 1 || percent > 100)
        throw new Error(`${where}: the percentage is a whole number from 1 to 100`);
      return { ...base, percent };
    }
    return base;
  });
  const g: Record<string, number> = {};
  for (const [key, label] of GATE_FIELDS) {
    const v = (gates[key] ?? "").trim();
    if (v === "") continue;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`${label}: not a number`);
    g[key] = n;
  }
  return Object.keys(g).length > 0 ? { stages, gates: g as Gates } : { stages };
}

export function RolloutsPage() {
  // Kept here, not in the editor: saving reloads the plan, which makes a new editor (its key).
  const [planSaved, setPlanSaved] = useState(false);
  const plan = useResource("rollout-plan", (signal) =>
    api.get<{ plan: RolloutPlan | null }>("/rollout-plan", {}, signal),
  );
  const rollouts = useResource(
    "rollouts",
    (signal) => api.get<{ items: Rollout[] }>("/rollouts", { limit: 5 }, signal),
    POLL_MS,
  );
  const edges = useResource(
    "edges",
    (signal) => api.get<Page<Edge>>("/edges", { limit: 1000 }, signal),
    POLL_MS,
  );
  const current = rollouts.data?.items[0];
  return (
    <section>
      <h1>Rollouts</h1>
      <p className="hint">
        With a rollout plan, a publish reaches the plan's stages one after another; after each
        stage's bake time health gates compare its edges with those still on the previous version,
        and a failed gate rolls back by itself. Without a plan every publish reaches every edge at
        once.
      </p>
      <ErrorBanner error={rollouts.error ?? plan.error} />
      <h2>Current rollout</h2>
      {current ? (
        <CurrentRollout
          rollout={current}
          edges={edges.data?.items ?? []}
          reload={rollouts.reload}
        />
      ) : (
        rollouts.data && <p>No rollout yet: the next publish with a plan starts one.</p>
      )}
      <EmergencyPublish reload={rollouts.reload} />
      <h2>Rollout plan</h2>
      {plan.data && (
        <PlanEditor
          // A new form when the stored plan changes (saved here or elsewhere).
          key={JSON.stringify(plan.data.plan)}
          plan={plan.data.plan}
          reload={plan.reload}
          saved={planSaved}
          setSaved={setPlanSaved}
        />
      )}
    </section>
  );
}

function edgeName(edges: Edge[], id: string): string {
  return edges.find((e) => e.id === id)?.name ?? id;
}

function num(v: number | null): string {
  if (v === null) return "—";
  return Math.abs(v) < 1 && v !== 0
    ? `${(v * 100).toFixed(1)} %`
    : String(Math.round(v * 100) / 100);
}

function CurrentRollout(props: { rollout: Rollout; edges: Edge[]; reload: () => void }) {
  const r = props.rollout;
  const action = useAction();
  const act = (what: "pause" | "resume" | "promote" | "abort") =>
    action.run(async () => {
      await api.post(`/rollouts/${encodeURIComponent(r.id)}/${what}`);
      props.reload();
    });
  const running = r.state === "baking" || r.state === "paused";
  const stage = r.stages[r.stage];
  const released = new Set(r.stages.slice(0, r.stage + 1).flatMap((s) => s.edgeIds));
  const onNew = props.edges.filter((e) => (e.configVersion ?? 0) >= r.version);
  const held = r.heldEdgeIds;
  return (
    <div className="card" data-testid="current-rollout">
      <p>
        Version {r.version} (from {r.previousVersion}): <Badge value={r.state} />{" "}
        {stage && (
          <span>
            stage {r.stage + 1} of {r.stages.length}: <strong>{stage.name}</strong>
            {stage.bakeStartedAt && ` — baking since ${formatTime(stage.bakeStartedAt)}`}
          </span>
        )}
      </p>
      <p data-testid="rollout-edges">
        On the new version: {onNew.length} edge{onNew.length === 1 ? "" : "s"}
        {onNew.length > 0 && ` (${onNew.map((e) => e.name).join(", ")})`}; released to it:{" "}
        {released.size}; held on version {r.previousVersion}: {held.length}
        {held.length > 0 && ` (${held.map((id) => edgeName(props.edges, id)).join(", ")})`}.
      </p>
      {r.failure && (
        <div className="field-error" role="alert" data-testid="rollout-failure">
          Stopped by the <strong>{r.failure.gate}</strong> gate: {r.failure.message}
          {r.failure.rollbackVersion !== null &&
            ` Rolled back: version ${r.failure.rollbackVersion} has the previous content.`}
        </div>
      )}
      <ErrorBanner error={action.error} />
      {running && (
        <div className="actions">
          {r.state === "baking" ? (
            <button type="button" className="secondary" onClick={() => act("pause")}>
              Pause
            </button>
          ) : (
            <button type="button" onClick={() => act("resume")}>
              Resume
            </button>
          )}
          <ConfirmButton
            className="secondary"
            question={`End stage "${stage?.name ?? ""}" now, without judging its gates, and start the next?`}
            onConfirm={() => act("promote")}
          >
            Promote now
          </ConfirmButton>
          <ConfirmButton
            question={`Abort the rollout of version ${r.version} and roll back to version ${r.previousVersion}'s content?`}
            onConfirm={() => act("abort")}
          >
            Abort
          </ConfirmButton>
        </div>
      )}
      <table aria-label="Rollout stages">
        <thead>
          <tr>
            <th>Stage</th>
            <th>Edges</th>
            <th>Started</th>
            <th>Bake started</th>
            <th>Finished</th>
            <th>Gates</th>
          </tr>
        </thead>
        <tbody>
          {r.stages.map((s, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: a rollout's stages never move
            <tr key={i} className={i === r.stage ? "current" : undefined}>
              <td>{s.name}</td>
              <td>
                {s.edgeIds.length === 0
                  ? "—"
                  : s.edgeIds.map((id) => edgeName(props.edges, id)).join(", ")}
              </td>
              <td>{formatTime(s.startedAt)}</td>
              <td>{formatTime(s.bakeStartedAt)}</td>
              <td>{formatTime(s.finishedAt)}</td>
              <td>
                {s.gates.length === 0 ? (
                  "not judged yet"
                ) : (
                  <table aria-label={`Gates of ${s.name}`} className="compact">
                    <thead>
                      <tr>
                        <th>Gate</th>
                        <th />
                        <th>New version</th>
                        <th>Reference</th>
                        <th>Threshold</th>
                        <th>Detail</th>
                      </tr>
                    </thead>
                    <tbody>
                      {s.gates.map((g) => (
                        <tr key={g.gate}>
                          <td>{g.gate}</td>
                          <td>
                            <Badge value={g.ok ? "passed" : "failed"} />
                          </td>
                          <td>{num(g.value)}</td>
                          <td>{num(g.reference)}</td>
                          <td>{num(g.threshold)}</td>
                          <td>{g.detail}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function EmergencyPublish({ reload }: { reload: () => void }) {
  const action = useAction();
  const [done, setDone] = useState<string | undefined>();
  const go = () =>
    action.run(async () => {
      const r = await api.post<{ version: number; changed: boolean }>("/config/publish", {
        emergency: true,
      });
      setDone(
        r.changed
          ? `Version ${r.version} went to every edge at once (audited as publish-emergency).`
          : `Nothing changed since version ${r.version}: nothing was sent.`,
      );
      reload();
    });
  return (
    <div className="actions">
      <ConfirmButton
        question="Publish the current configuration to EVERY edge at once, skipping the rollout plan and its health gates? A running rollout is superseded. This is recorded in the audit log."
        onConfirm={go}
      >
        Emergency: publish to all edges at once
      </ConfirmButton>
      {done && <Notice>{done}</Notice>}
      <ErrorBanner error={action.error} />
    </div>
  );
}

function PlanEditor(props: {
  plan: RolloutPlan | null;
  reload: () => void;
  saved: boolean;
  setSaved: (saved: boolean) => void;
}) {
  const [rows, setRows] = useState<StageRow[]>(() => (props.plan?.stages ?? []).map(rowOf));
  const [gates, setGates] = useState<Record<string, string>>(() =>
    Object.fromEntries(
      GATE_FIELDS.map(([k]) => {
        const v = props.plan?.gates?.[k];
        return [k, v === undefined ? "" : String(v)];
      }),
    ),
  );
  const [problem, setProblem] = useState<string | undefined>();
  const { saved, setSaved } = props;
  const action = useAction();
  const set = (i: number, patch: Partial<StageRow>) =>
    setRows((rs) => rs.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    let plan: RolloutPlan;
    try {
      plan = planOf(rows, gates);
    } catch (err) {
      setProblem((err as Error).message);
      return;
    }
    setProblem(undefined);
    if (
      await action.run(async () => {
        await api.put("/rollout-plan", plan);
      })
    ) {
      setSaved(true);
      props.reload();
    }
  };
  const remove = () =>
    action.run(async () => {
      setSaved(false);
      await api.del("/rollout-plan");
      props.reload();
    });
  return (
    <form onSubmit={submit} aria-label="Rollout plan">
      {props.plan === null && (
        <p className="hint">
          No plan: publishes go to every edge at once. Add stages, for example a canary chosen by
          label, then 50 %, then every other edge.
        </p>
      )}
      <table aria-label="Plan stages">
        <thead>
          <tr>
            <th>Stage name</th>
            <th>Edges</th>
            <th>Which</th>
            <th>Bake (seconds)</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: rows have no id; their order is the plan
            <tr key={i}>
              <td>
                <TextField
                  label={`Stage ${i + 1} name`}
                  value={r.name}
                  onChange={(v) => set(i, { name: v })}
                />
              </td>
              <td>
                <SelectField
                  label={`Stage ${i + 1} edges`}
                  value={r.selector}
                  options={SELECTORS}
                  onChange={(v) => set(i, { selector: v as Selector })}
                />
              </td>
              <td>
                {r.selector !== "rest" && (
                  <TextField
                    label={`Stage ${i + 1} ${r.selector === "labels" ? "labels (key=value, …)" : r.selector === "ids" ? "edge ids" : "percent"}`}
                    value={r.value}
                    onChange={(v) => set(i, { value: v })}
                  />
                )}
              </td>
              <td>
                <TextField
                  label={`Stage ${i + 1} bake seconds`}
                  value={r.bake}
                  inputMode="numeric"
                  onChange={(v) => set(i, { bake: v })}
                />
              </td>
              <td>
                <button
                  type="button"
                  className="secondary"
                  onClick={() => setRows((rs) => rs.filter((_, j) => j !== i))}
                >
                  Remove stage
                </button>
              </td>
            </tr>
          ))}
          <EmptyRow cols={5} show={rows.length === 0}>
            No stages.
          </EmptyRow>
        </tbody>
      </table>
      <button
        type="button"
        className="secondary"
        onClick={() =>
          setRows((rs) => [...rs, { name: "", selector: "rest", value: "", bake: "600" }])
        }
      >
        Add stage
      </button>
      <h3>Health gates</h3>
      <p className="hint">Empty fields keep the default shown.</p>
      <div className="grid">
        {GATE_FIELDS.map(([key, label, def]) => (
          <TextField
            key={key}
            label={label}
            value={gates[key] ?? ""}
            placeholder={String(def)}
            inputMode="decimal"
            onChange={(v) => setGates((g) => ({ ...g, [key]: v }))}
          />
        ))}
      </div>
      {problem && (
        <div className="field-error" role="alert">
          {problem}
        </div>
      )}
      <ErrorBanner error={action.error} />
      {saved && <Notice>Plan saved: the next publish rolls out by it.</Notice>}
      <div className="actions">
        <button type="submit" disabled={action.busy}>
          Save plan
        </button>
        {props.plan !== null && (
          <ConfirmButton
            question="Remove the rollout plan? Publishes then go to every edge at once."
            onConfirm={remove}
          >
            Remove plan
          </ConfirmButton>
        )}
      </div>
    </form>
  );
}
