// Publish preview: what the next publish would ship compared with the live (latest) bundle, in
// names — policies, lists, locations, users and devices added, removed and changed, and for each
// list the items that come and go (a sample of each) — so a person reads "list ads: +3 items
// (x.example, …)" instead of ids and counts.

import type { ConfigBundle } from "@gatehouse/contract";
import type { BundleContent } from "./compile.ts";

const SAMPLE = 10;

interface Named {
  added: string[];
  removed: string[];
  changed: string[];
}

export interface NamedPreview {
  /** The live version compared with (null: nothing published yet). */
  liveVersion: number | null;
  policies: Named;
  lists: Named & {
    items: {
      name: string;
      added: number;
      removed: number;
      addedSample: string[];
      removedSample: string[];
    }[];
  };
  locations: Named;
  users: Named;
  devices: Named;
  resolverChanged: boolean;
  settingsChanged: boolean;
}

function byName<T extends { id: string }>(
  a: readonly T[],
  b: readonly T[],
  name: (x: T) => string,
  strip: (x: T) => unknown = (x) => x,
): Named {
  const before = new Map(a.map((x) => [x.id, x]));
  const after = new Set(b.map((x) => x.id));
  const out: Named = { added: [], removed: [], changed: [] };
  for (const x of b) {
    const old = before.get(x.id);
    if (old === undefined) out.added.push(name(x));
    else if (JSON.stringify(strip(old)) !== JSON.stringify(strip(x))) out.changed.push(name(x));
  }
  for (const x of a) if (!after.has(x.id)) out.removed.push(name(x));
  return out;
}

export function previewPublish(live: ConfigBundle | undefined, next: BundleContent): NamedPreview {
  const a: Pick<ConfigBundle, "policies" | "lists" | "locations" | "identities" | "resolver"> &
    Partial<ConfigBundle> = live ?? {
    policies: [],
    lists: [],
    locations: [],
    identities: { users: [], devices: [] },
    resolver: next.resolver,
  };
  const lists = byName(
    a.lists,
    next.lists,
    (l) => l.name,
    (l) => ({ ...l, items: undefined }),
  );
  const old = new Map(a.lists.map((l) => [l.id, l.items ?? []]));
  const items: NamedPreview["lists"]["items"] = [];
  for (const l of next.lists) {
    const before = new Set((old.get(l.id) ?? []).map(String));
    const now = new Set((l.items ?? []).map(String));
    const added = [...now].filter((v) => !before.has(v));
    const removed = [...before].filter((v) => !now.has(v));
    if (added.length + removed.length === 0) continue;
    items.push({
      name: l.name,
      added: added.length,
      removed: removed.length,
      addedSample: added.slice(0, SAMPLE),
      removedSample: removed.slice(0, SAMPLE),
    });
    if (old.has(l.id) && !lists.changed.includes(l.name)) lists.changed.push(l.name);
  }
  const settings = (x: Partial<ConfigBundle>) =>
    JSON.stringify({ u: x.allowUnknownClients, p: x.proxy, b: x.blockPage });
  return {
    liveVersion: live?.version ?? null,
    policies: byName(a.policies, next.policies, (p) => p.name),
    lists: { ...lists, items },
    locations: byName(a.locations, next.locations, (l) => l.name),
    users: byName(a.identities?.users ?? [], next.identities?.users ?? [], (u) => u.email),
    devices: byName(a.identities?.devices ?? [], next.identities?.devices ?? [], (d) => d.name),
    resolverChanged: JSON.stringify(a.resolver) !== JSON.stringify(next.resolver),
    settingsChanged: settings(a) !== settings(next),
  };
}
