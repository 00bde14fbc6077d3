// Creates an import plan through control's REST API (the same routes, checks and audit entries
// as any client's), skipping what a previous run created (found by name), then publishes.

import type { ResolverSettings, Upstream } from "@gatehouse/contract";
import type { ImportPlan, NotMapped } from "./plan.ts";

/** One API call: method, path under /api/v1, JSON body; resolves to the answer's JSON, throws on an error status. */
export type ApiCall = (method: string, path: string, body?: unknown) => Promise<unknown>;

export interface ImportReport {
  readonly product: string;
  readonly dryRun: boolean;
  /** What was (or, in a dry run, would be) created or changed. */
  readonly created: string[];
  /** Already there from an earlier import (same name): left alone. */
  readonly skipped: string[];
  readonly notMapped: NotMapped[];
  /** The published version, when something changed and the run was not dry. */
  readonly publishedVersion?: number;
}

/** Items sent inline when a list is created; more go in later batches. */
const BATCH = 10_000;

async function allNames(call: ApiCall, path: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor: string | null = null;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = (await call(
      "GET",
      `${path}?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    )) as {
      items: { id: string; name: string }[];
      nextCursor: string | null;
    };
    for (const i of page.items) out.set(i.name, i.id);
    cursor = page.nextCursor;
    if (cursor === null) break;
  }
  return out;
}

const same = (a: readonly Upstream[], b: readonly Upstream[]) =>
  a.length === b.length && a.every((u, i) => u.address === b[i]?.address);

/**
 * Apply `plan`. With `dryRun` nothing is written: the report says what would be created, and
 * what would be skipped as already there when `call` can read the account.
 */
export async function applyPlan(
  plan: ImportPlan,
  call: ApiCall | undefined,
  dryRun: boolean,
): Promise<ImportReport> {
  const created: string[] = [];
  const skipped: string[] = [];
  const lists = call ? await allNames(call, "/lists") : new Map<string, string>();
  const policies = call ? await allNames(call, "/policies") : new Map<string, string>();
  const write = dryRun ? undefined : call;

  for (const l of plan.lists) {
    const what = l.subscription
      ? `list $${l.name} subscribed to ${l.subscription.url}`
      : `list $${l.name} with ${l.items.length} item${l.items.length === 1 ? "" : "s"}`;
    if (lists.has(l.name)) {
      skipped.push(what);
      continue;
    }
    created.push(what);
    if (!write) continue;
    const { id } = (await write("POST", "/lists", {
      name: l.name,
      type: "domain",
      description: l.description,
      items: l.items.slice(0, BATCH),
    })) as { id: string };
    for (let i = BATCH; i < l.items.length; i += BATCH)
      await write("POST", `/lists/${id}/items`, l.items.slice(i, i + BATCH));
    if (l.subscription) await write("PUT", `/lists/${id}/subscription`, l.subscription);
  }

  for (const p of plan.policies) {
    const what = `${p.action} policy "${p.name}": ${p.expression}`;
    if (policies.has(p.name)) {
      skipped.push(what);
      continue;
    }
    created.push(what);
    if (!write) continue;
    await write("POST", "/policies", {
      name: p.name,
      type: "dns",
      expression: p.expression,
      action: p.action,
      ...(p.description ? { description: p.description } : {}),
      ...(p.settings ? { settings: p.settings } : {}),
    });
  }

  if (plan.upstreams.length > 0 || plan.conditionalForwarding.length > 0) {
    const current = call
      ? ((await call("GET", "/resolver")) as ResolverSettings)
      : { upstreams: [] };
    const next: ResolverSettings = { ...current };
    let changed = false;
    if (plan.upstreams.length > 0) {
      const ups = plan.upstreams.slice(0, 32);
      if (same(current.upstreams, ups))
        skipped.push(`upstreams ${ups.map((u) => u.address).join(", ")}`);
      else {
        created.push(
          `upstreams ${ups.map((u) => u.address).join(", ")} (replacing ${current.upstreams.map((u) => u.address).join(", ") || "none"})`,
        );
        next.upstreams = ups;
        changed = true;
      }
    }
    const cf = [...(current.conditionalForwarding ?? [])];
    for (const c of plan.conditionalForwarding) {
      const what = `conditional forwarding of ${c.suffix} to ${c.upstreams.map((u) => u.address).join(", ")}`;
      if (cf.some((x) => x.suffix === c.suffix)) {
        skipped.push(what);
        continue;
      }
      created.push(what);
      cf.push(c);
      changed = true;
    }
    if (cf.length > 0) next.conditionalForwarding = cf;
    if (changed && write) await write("PUT", "/resolver", next);
  }

  let publishedVersion: number | undefined;
  if (write && created.length > 0) {
    const r = (await write("POST", "/config/publish", {})) as { version: number };
    publishedVersion = r.version;
  }
  return {
    product: plan.product,
    dryRun,
    created,
    skipped,
    notMapped: plan.notMapped,
    ...(publishedVersion === undefined ? {} : { publishedVersion }),
  };
}

/** The report as lines for people (the CLI prints these). */
export function formatReport(r: ImportReport): string[] {
  const out: string[] = [];
  const verb = r.dryRun ? "would create" : "created";
  out.push(
    `${r.product}: ${verb} ${r.created.length}, already there ${r.skipped.length}, not mappable ${r.notMapped.length}`,
  );
  if (r.created.length)
    out.push("", r.dryRun ? "Would create:" : "Created:", ...r.created.map((c) => `  + ${c}`));
  if (r.skipped.length)
    out.push("", "Already there (skipped):", ...r.skipped.map((c) => `  = ${c}`));
  if (r.notMapped.length)
    out.push("", "Not mapped:", ...r.notMapped.map((n) => `  - ${n.item}: ${n.reason}`));
  if (r.publishedVersion !== undefined) out.push("", `Published as version ${r.publishedVersion}.`);
  else if (r.dryRun) out.push("", "Dry run: nothing was changed.");
  return out;
}
