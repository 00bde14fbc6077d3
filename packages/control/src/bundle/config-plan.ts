// Configuration as code: what applying a YAML document would change, by name, like a
// `terraform plan`. Both sides are account-config documents (the current one is the export).
// Things are matched by id; a document written by hand without ids gets the ids of the current
// configuration's things of the same name first (adoptIds), so applying it twice changes
// nothing the second time and a location keeps its DoH token. Sections a document leaves out
// (localZones, devices, tests, rolloutPlan) stay as they are and are not compared.

import type { ConfigDocument } from "./export-import.ts";

type Kind = "policy" | "list" | "location" | "localZone" | "user" | "device" | "test";

export interface PlanChange {
  /** policy, list, location, localZone, user, device or test. */
  readonly kind: string;
  readonly op: "add" | "remove" | "change";
  readonly name: string;
  /** For a change: the fields that differ. */
  readonly fields?: string[];
  /** For a list whose items differ. */
  readonly items?: { added: number; removed: number };
}

export interface ConfigPlan {
  readonly changes: PlanChange[];
  /** Whole sections that differ: settings, resolver, rolloutPlan. */
  readonly sections: string[];
  readonly add: number;
  readonly change: number;
  readonly remove: number;
}

type Doc = ConfigDocument;

/** Fill the next document's missing ids (and locations' DoH tokens) from the current one. */
export function adoptIds(current: Doc, next: Doc): Doc {
  const by = <T, K>(xs: readonly T[] | undefined, key: (x: T) => K) => {
    const m = new Map<K, T>();
    for (const x of xs ?? []) if (!m.has(key(x))) m.set(key(x), x);
    return m;
  };
  const policies = by(current.policies, (p) => `${p.type}\u0000${p.name}`);
  const lists = by(current.lists, (l) => l.name);
  const locations = by(current.locations, (l) => l.name);
  const locationsById = by(current.locations, (l) => l.id);
  const zones = by(current.localZones, (z) => z.name.toLowerCase().replace(/\.$/, ""));
  const users = by(current.users, (u) => u.email.toLowerCase());
  const devices = by(current.devices, (d) => d.name.toLowerCase());
  const withId = <T extends { id?: string }>(x: T, found: { id?: string } | undefined): T =>
    x.id !== undefined || found?.id === undefined ? x : { ...x, id: found.id };
  return {
    ...next,
    ...(next.policies
      ? {
          policies: next.policies.map((p) => withId(p, policies.get(`${p.type}\u0000${p.name}`))),
        }
      : {}),
    ...(next.lists ? { lists: next.lists.map((l) => withId(l, lists.get(l.name))) } : {}),
    ...(next.locations
      ? {
          locations: next.locations.map((l) => {
            const x = withId(l, locations.get(l.name));
            const token = x.id !== undefined ? locationsById.get(x.id)?.dohToken : undefined;
            return x.dohToken === undefined && token !== undefined ? { ...x, dohToken: token } : x;
          }),
        }
      : {}),
    ...(next.localZones
      ? {
          localZones: next.localZones.map((z) =>
            withId(z, zones.get(z.name.toLowerCase().replace(/\.$/, ""))),
          ),
        }
      : {}),
    ...(next.users
      ? { users: next.users.map((u) => withId(u, users.get(u.email.toLowerCase()))) }
      : {}),
    ...(next.devices
      ? { devices: next.devices.map((d) => withId(d, devices.get(d.name.toLowerCase()))) }
      : {}),
  };
}

/** A value with defaults dropped (null, false, empty arrays and objects) and keys sorted. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) {
    const x = canonical((v as Record<string, unknown>)[k]);
    if (x === undefined || x === null || x === false) continue;
    if (Array.isArray(x) && x.length === 0) continue;
    if (typeof x === "object" && !Array.isArray(x) && Object.keys(x as object).length === 0)
      continue;
    out[k] = x;
  }
  return out;
}

/** Equal once defaults are dropped (a missing value equals false, null or empty). */
const same = (a: unknown, b: unknown) =>
  JSON.stringify(canonical({ v: a })) === JSON.stringify(canonical({ v: b }));

/** Fields of two versions of a thing that differ (id and `skip` aside). */
function differing(a: object, b: object, skip: readonly string[] = []): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const out: string[] = [];
  for (const k of [...keys].sort()) {
    if (k === "id" || skip.includes(k)) continue;
    if (!same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) out.push(k);
  }
  return out;
}

/** The location's DNSSEC default (validate) is the same as saying nothing. */
function locationCanon<T extends { dnssec?: { validate?: boolean } }>(l: T): T {
  return l.dnssec?.validate === true ? { ...l, dnssec: undefined } : l;
}

function compare<T extends object>(
  kind: Kind,
  current: readonly T[] | undefined,
  next: readonly T[] | undefined,
  name: (x: T) => string,
  out: PlanChange[],
  opts: {
    key?: (x: T) => string;
    skip?: readonly string[];
    extra?: (a: T, b: T) => Partial<PlanChange> | undefined;
  } = {},
): void {
  if (next === undefined) return;
  const key = opts.key ?? ((x: T) => (x as { id?: string }).id ?? `\u0000${name(x)}`);
  const before = new Map((current ?? []).map((x) => [key(x), x]));
  const seen = new Set<string>();
  for (const x of next) {
    const k = key(x);
    seen.add(k);
    const old = before.get(k);
    if (old === undefined) {
      out.push({ kind, op: "add", name: name(x) });
      continue;
    }
    const fields = differing(old, x, opts.skip);
    const extra = opts.extra?.(old, x);
    if (fields.length > 0 || extra !== undefined)
      out.push({ kind, op: "change", name: name(x), fields, ...extra });
  }
  for (const [k, x] of before) if (!seen.has(k)) out.push({ kind, op: "remove", name: name(x) });
}

/**
 * What applying `next` over `current` changes. `next` should have its ids (adoptIds, then the
 * import's preparation) so new things are told from renamed ones.
 */
export function planDocument(current: Doc, next: Doc): ConfigPlan {
  const changes: PlanChange[] = [];
  compare("policy", current.policies, next.policies, (p) => p.name, changes);
  compare("list", current.lists, next.lists, (l) => l.name, changes, {
    skip: ["items"],
    extra: (a, b) => {
      // A list by reference keeps its items: nothing to compare.
      if (b.subscription !== undefined && b.items === undefined) return undefined;
      const old = new Set((a.items ?? []).map(String));
      const now = new Set((b.items ?? []).map(String));
      let added = 0;
      let removed = 0;
      for (const i of now) if (!old.has(i)) added++;
      for (const i of old) if (!now.has(i)) removed++;
      return added + removed > 0 ? { items: { added, removed } } : undefined;
    },
  });
  compare(
    "location",
    current.locations?.map(locationCanon),
    next.locations?.map(locationCanon),
    (l) => l.name,
    changes,
  );
  compare("localZone", current.localZones, next.localZones, (z) => z.name, changes);
  compare("user", current.users, next.users, (u) => u.email, changes);
  compare("device", current.devices, next.devices, (d) => d.name, changes);
  compare("test", current.tests, next.tests, (t) => t.name, changes, { key: (t) => t.name });
  const sections: string[] = [];
  if (!same(current.settings, next.settings)) sections.push("settings");
  if (next.resolver !== undefined && !same(current.resolver, next.resolver))
    sections.push("resolver");
  if (next.rolloutPlan !== undefined && !same(current.rolloutPlan, next.rolloutPlan))
    sections.push("rolloutPlan");
  const count = (op: PlanChange["op"]) => changes.filter((c) => c.op === op).length;
  return {
    changes,
    sections,
    add: count("add"),
    change: count("change") + sections.length,
    remove: count("remove"),
  };
}

/** The plan as lines a person reads: `+ policy "x"`, `~ list "ads": 3 items added`, … */
export function formatPlan(plan: ConfigPlan): string[] {
  const sign = { add: "+", remove: "-", change: "~" } as const;
  const lines = plan.changes.map((c) => {
    const what = `${sign[c.op]} ${c.kind} ${JSON.stringify(c.name)}`;
    const parts: string[] = [];
    if (c.fields && c.fields.length > 0) parts.push(c.fields.join(", "));
    if (c.items) parts.push(`items +${c.items.added} -${c.items.removed}`);
    return parts.length > 0 ? `${what}: ${parts.join("; ")}` : what;
  });
  for (const s of plan.sections) lines.push(`~ ${s}`);
  lines.push(
    plan.add + plan.change + plan.remove === 0
      ? "No changes."
      : `Plan: ${plan.add} to add, ${plan.change} to change, ${plan.remove} to remove.`,
  );
  return lines;
}
