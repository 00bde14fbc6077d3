// What changed between two bundles: per section, the ids added, removed and changed; for lists
// also how many items came and went; for singletons whether they changed.

import { type ConfigBundle, canonicalJson } from "@gatehouse/contract";

interface SectionDiff {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
}

interface ListItemsDiff {
  readonly id: string;
  readonly name: string;
  readonly added: number;
  readonly removed: number;
}

export interface BundleDiff {
  readonly from: number;
  readonly to: number;
  readonly policies: SectionDiff;
  readonly lists: SectionDiff & { readonly items: ListItemsDiff[] };
  readonly locations: SectionDiff;
  readonly users: SectionDiff;
  readonly devices: SectionDiff;
  readonly resolverChanged: boolean;
  readonly settingsChanged: boolean;
}

function section<T extends { id: string }>(a: readonly T[], b: readonly T[]): SectionDiff {
  const before = new Map(a.map((x) => [x.id, canonicalJson(x)]));
  const after = new Map(b.map((x) => [x.id, canonicalJson(x)]));
  const added: string[] = [];
  const changed: string[] = [];
  for (const [id, v] of after) {
    const old = before.get(id);
    if (old === undefined) added.push(id);
    else if (old !== v) changed.push(id);
  }
  const removed = [...before.keys()].filter((id) => !after.has(id));
  return { added, removed, changed };
}

export function diffBundles(a: ConfigBundle, b: ConfigBundle): BundleDiff {
  const strip = (l: ConfigBundle["lists"][number]) => ({ ...l, items: undefined });
  const lists = section(a.lists.map(strip), b.lists.map(strip));
  const beforeItems = new Map(a.lists.map((l) => [l.id, l.items ?? []]));
  const items: ListItemsDiff[] = [];
  for (const l of b.lists) {
    const old = beforeItems.get(l.id);
    const now = l.items ?? [];
    if (old === undefined) {
      if (now.length) items.push({ id: l.id, name: l.name, added: now.length, removed: 0 });
      continue;
    }
    const oldSet = new Set(old.map(String));
    const nowSet = new Set(now.map(String));
    let added = 0;
    let removed = 0;
    for (const v of nowSet) if (!oldSet.has(v)) added++;
    for (const v of oldSet) if (!nowSet.has(v)) removed++;
    if (added || removed) {
      items.push({ id: l.id, name: l.name, added, removed });
      if (!lists.changed.includes(l.id)) lists.changed.push(l.id);
    }
  }
  const settings = (x: ConfigBundle) =>
    canonicalJson({ u: x.allowUnknownClients, p: x.proxy, b: x.blockPage });
  return {
    from: a.version,
    to: b.version,
    policies: section(a.policies, b.policies),
    lists: { ...lists, items },
    locations: section(a.locations, b.locations),
    users: section(a.identities?.users ?? [], b.identities?.users ?? []),
    devices: section(a.identities?.devices ?? [], b.identities?.devices ?? []),
    resolverChanged: canonicalJson(a.resolver) !== canonicalJson(b.resolver),
    settingsChanged: settings(a) !== settings(b),
  };
}
