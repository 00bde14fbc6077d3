// A compiled config: everything the hot paths read, built once when a bundle arrives and
// swapped in as one reference. Every expression is compiled, every list built, every network
// parsed here; nothing is left for per-query code but lookups. A bundle that fails any step is
// refused whole (ConfigRejectedError) and the previous snapshot keeps serving.

import type { ConfigBundle } from "@gatehouse/contract";
import {
  type BundleProblem,
  checkBundle,
  LIST_ITEM_MAX_LENGTH,
  LIST_MAX_ITEMS,
  listItemProblem,
} from "@gatehouse/contract/edge-checks";
import { GatehouseError } from "@gatehouse/contract/errors";
import { DohDeviceIndex } from "./identify/doh-devices.ts";
import { IdentityIndex } from "./identify/identity-index.ts";
import { LocationMatcher } from "./identify/location-matcher.ts";
import {
  buildListSetSteps,
  type EdgeListSet,
  type SharedLists,
  shareLists,
} from "./lists/list-set.ts";
import { compilePolicySet, PolicyCompileError, type PolicySet } from "./policy/policy-set.ts";
import { runSliced, runSync, type Steps } from "./slices.ts";
import type { PackedItems, PackedLists } from "./sync/bundle-parse.ts";

export interface EdgeSnapshot {
  readonly version: number;
  readonly hash?: string;
  /**
   * The bundle compiled, without the items of its domain lists: those live compactly in
   * `lists` only, so a bundle with millions of names is not held twice.
   */
  readonly bundle: ConfigBundle;
  readonly lists: EdgeListSet;
  readonly policies: { readonly dns: PolicySet; readonly http: PolicySet; readonly net: PolicySet };
  readonly locations: LocationMatcher;
  readonly identities: IdentityIndex;
  /** Devices by their DoH token's hash. */
  readonly dohDevices: DohDeviceIndex;
  /** Date.now() when compiled. */
  readonly compiledAt: number;
  /** Distinguishes snapshots with equal versions (edge-local files reloaded); grows per compile. */
  readonly generation: number;
}

export class ConfigRejectedError extends GatehouseError {
  readonly problems: readonly BundleProblem[];
  constructor(problems: readonly BundleProblem[], options?: { cause?: unknown }) {
    const first = problems[0];
    super(
      "GH_ERR_CONFIG_REJECTED",
      first
        ? `config rejected: ${first.path}: ${first.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""}`
        : "config rejected",
      problems,
      options,
    );
    this.name = "ConfigRejectedError";
    this.problems = problems;
  }
}

export interface CompileOptions {
  /** Directory that relative list `file:` paths resolve against. */
  baseDir?: string;
  /** Refuse bundles whose lists hold more items than this edge accepts (edge.limits). */
  maxListItems?: number;
  /** Domain lists built by another thread (compileSharedLists), used instead of building them. */
  prebuilt?: SharedLists;
}

/** A bundle's domain lists built once for every worker thread, and the bundle without their items. */
export interface SharedCompile {
  readonly bundle: ConfigBundle;
  readonly lists: SharedLists;
  /** Bytes the domain lists hold (shared memory). */
  readonly bytes: number;
}

let generation = 0;

const NONE_PACKED: PackedLists = new Map();

/** Compile a bundle in one go (start-up, tests); consumes `packed` (compileSnapshotSliced). */
export function compileSnapshot(
  bundle: ConfigBundle,
  opts: CompileOptions = {},
  packed: PackedLists = NONE_PACKED,
): EdgeSnapshot {
  return runSync(compileSteps(bundle, opts, packed));
}

/**
 * Compile a bundle in slices of a few milliseconds, giving the event loop back in between, so
 * queries keep being answered while a bundle with millions of list items is built. Lists in
 * `packed` (sync/bundle-parse.ts) are read from their joined text: no string per item. A
 * compile consumes `packed`: each list's bytes become its names' arena (the names are compacted
 * in place, DomainSetBuilder.adopt), so the same PackedLists is never compiled twice.
 */
export function compileSnapshotSliced(
  bundle: ConfigBundle,
  opts: CompileOptions = {},
  packed: PackedLists = NONE_PACKED,
): Promise<EdgeSnapshot> {
  return runSliced(compileSteps(bundle, opts, packed));
}

// The longest string item: a length is all the contract asks of one (its test holds the List
// schema to that), so packed items are checked by their lengths alone, without a string each.
const PACKED_MAX_LENGTH = LIST_ITEM_MAX_LENGTH;

/**
 * The first packed item outside the contract's item schema: its index and problem. Items are
 * measured by their UTF-8 bytes, never fewer than their characters: only an item longer in
 * bytes than the limit is decoded to a string and checked by the contract.
 */
function* packedItemProblem({ bytes, count }: PackedItems): Steps<[number, string] | undefined> {
  const all = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  for (let j = 0; j < count; j++) {
    if ((j & 0x3fff) === 0x3fff) yield;
    const nl = j === count - 1 ? all.length : all.indexOf(0x0a, at);
    const end = nl < 0 ? all.length : nl;
    if (end - at > PACKED_MAX_LENGTH) {
      const problem = listItemProblem(all.toString("utf8", at, end));
      if (problem !== undefined) return [j, problem];
    }
    at = end + 1;
  }
  return undefined;
}

/**
 * checkBundle() without walking list items in one go: the bundle is checked with its lists'
 * items left out, then the items against the contract's item schema, pausing between chunks.
 */
function* checkSteps(bundle: ConfigBundle, packed: PackedLists): Steps<BundleProblem[]> {
  const lists = Array.isArray(bundle?.lists) ? bundle.lists : undefined;
  const lite = lists
    ? { ...bundle, lists: lists.map((l) => (Array.isArray(l?.items) ? { ...l, items: [] } : l)) }
    : bundle;
  const problems = checkBundle(lite);
  if (problems.length > 0 || !lists) return problems;
  const max = LIST_MAX_ITEMS;
  for (let i = 0; i < lists.length; i++) {
    const p = packed.get(i);
    if (p) {
      if (p.count > max)
        return [{ path: `/lists/${i}/items`, message: `must hold at most ${max} items` }];
      const bad = yield* packedItemProblem(p);
      if (bad) return [{ path: `/lists/${i}/items/${bad[0]}`, message: bad[1] }];
      continue;
    }
    const items = lists[i]?.items;
    if (!Array.isArray(items)) continue;
    if (items.length > max)
      return [{ path: `/lists/${i}/items`, message: `must hold at most ${max} items` }];
    for (let j = 0; j < items.length; j++) {
      if ((j & 0x3fff) === 0x3fff) yield;
      const problem = listItemProblem(items[j]);
      if (problem !== undefined) return [{ path: `/lists/${i}/items/${j}`, message: problem }];
    }
  }
  return [];
}

/** The bundle a snapshot keeps: domain lists without their items (compiled into `lists`). */
function withoutDomainItems(bundle: ConfigBundle): ConfigBundle {
  if (!bundle.lists.some((l) => l.type === "domain" && l.items !== undefined)) return bundle;
  return {
    ...bundle,
    lists: bundle.lists.map((l) => {
      if (l.type !== "domain" || l.items === undefined) return l;
      const { items: _compiled, ...rest } = l;
      return rest;
    }),
  };
}

/** A failure of the compile as the ConfigRejectedError that names where it is. */
function rejected(e: unknown): ConfigRejectedError {
  if (e instanceof ConfigRejectedError) return e;
  const path =
    e instanceof PolicyCompileError
      ? `/policies/${e.index}`
      : (e as Error).name === "ListError"
        ? "/lists"
        : "/";
  return new ConfigRejectedError([{ path, message: (e as Error).message }], { cause: e });
}

/** The bundle checked, then its lists built (`shared`: into shared memory). */
function* listSteps(
  bundle: ConfigBundle,
  opts: CompileOptions,
  packed: PackedLists,
  shared = false,
): Steps<EdgeListSet> {
  const problems = yield* checkSteps(bundle, packed);
  if (problems.length > 0) throw new ConfigRejectedError(problems);
  if (opts.maxListItems !== undefined) {
    const items = bundle.lists.reduce(
      (n, l, i) => n + (packed.get(i)?.count ?? l.items?.length ?? 0),
      0,
    );
    if (items > opts.maxListItems)
      throw new ConfigRejectedError([
        {
          path: "/lists",
          message: `lists hold ${items} items; this edge accepts at most ${opts.maxListItems} (edge.limits.maxListItems)`,
        },
      ]);
  }
  try {
    return yield* buildListSetSteps(
      bundle.lists,
      {
        ...(opts.baseDir !== undefined ? { baseDir: opts.baseDir } : {}),
        ...(opts.prebuilt ? { prebuilt: opts.prebuilt } : {}),
        shared,
      },
      packed,
    );
  } catch (e) {
    throw rejected(e);
  }
}

/**
 * Worker threads (workers.ts): check a bundle and build its domain lists once, in slices, into
 * shared memory; each thread compiles the rest with them as `prebuilt`. Consumes `packed`.
 */
export async function compileSharedLists(
  bundle: ConfigBundle,
  opts: CompileOptions = {},
  packed: PackedLists = NONE_PACKED,
): Promise<SharedCompile> {
  const lists = await runSliced(listSteps(bundle, opts, packed, true));
  return {
    bundle: withoutDomainItems(bundle),
    lists: shareLists(lists, bundle.lists),
    bytes: lists.byteLength,
  };
}

function* compileSteps(
  bundle: ConfigBundle,
  opts: CompileOptions,
  packed: PackedLists = NONE_PACKED,
): Steps<EdgeSnapshot> {
  const lists = yield* listSteps(bundle, opts, packed);
  try {
    yield;
    const policies = {
      dns: compilePolicySet("dns", bundle.policies),
      http: compilePolicySet("http", bundle.policies),
      net: compilePolicySet("net", bundle.policies),
    };
    const locations = new LocationMatcher(bundle.locations);
    const identities = new IdentityIndex(bundle.identities);
    const dohDevices = new DohDeviceIndex(bundle.identities, bundle.locations);
    return {
      version: bundle.version,
      ...(bundle.hash === undefined ? {} : { hash: bundle.hash }),
      bundle: withoutDomainItems(bundle),
      lists,
      policies,
      locations,
      identities,
      dohDevices,
      compiledAt: Date.now(),
      generation: ++generation,
    };
  } catch (e) {
    throw rejected(e);
  }
}
