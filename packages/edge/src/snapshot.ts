// A compiled config: everything the hot paths read, built once when a bundle arrives and
// swapped in as one reference. Every expression is compiled, every list built, every network
// parsed here; nothing is left for per-query code but lookups. A bundle that fails any step is
// refused whole (ConfigRejectedError) and the previous snapshot keeps serving.

import {
  type BundleProblem,
  type ConfigBundle,
  checkBundle,
  GatehouseError,
} from "@gatehouse/contract";
import { IdentityIndex } from "./identify/identity-index.ts";
import { LocationMatcher } from "./identify/location-matcher.ts";
import { buildListSet, type EdgeListSet } from "./lists/list-set.ts";
import { compilePolicySet, PolicyCompileError, type PolicySet } from "./policy/policy-set.ts";

export interface EdgeSnapshot {
  readonly version: number;
  readonly hash?: string;
  readonly bundle: ConfigBundle;
  readonly lists: EdgeListSet;
  readonly policies: { readonly dns: PolicySet; readonly http: PolicySet; readonly net: PolicySet };
  readonly locations: LocationMatcher;
  readonly identities: IdentityIndex;
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
}

let generation = 0;

export function compileSnapshot(bundle: ConfigBundle, opts: CompileOptions = {}): EdgeSnapshot {
  const problems = checkBundle(bundle);
  if (problems.length > 0) throw new ConfigRejectedError(problems);
  if (opts.maxListItems !== undefined) {
    const items = bundle.lists.reduce((n, l) => n + (l.items?.length ?? 0), 0);
    if (items > opts.maxListItems)
      throw new ConfigRejectedError([
        {
          path: "/lists",
          message: `lists hold ${items} items; this edge accepts at most ${opts.maxListItems} (edge.limits.maxListItems)`,
        },
      ]);
  }
  try {
    const lists = buildListSet(bundle.lists, { baseDir: opts.baseDir });
    const policies = {
      dns: compilePolicySet("dns", bundle.policies),
      http: compilePolicySet("http", bundle.policies),
      net: compilePolicySet("net", bundle.policies),
    };
    const locations = new LocationMatcher(bundle.locations);
    const identities = new IdentityIndex(bundle.identities);
    return {
      version: bundle.version,
      ...(bundle.hash === undefined ? {} : { hash: bundle.hash }),
      bundle,
      lists,
      policies,
      locations,
      identities,
      compiledAt: Date.now(),
      generation: ++generation,
    };
  } catch (e) {
    if (e instanceof ConfigRejectedError) throw e;
    const path =
      e instanceof PolicyCompileError
        ? `/policies/${e.index}`
        : (e as Error).name === "ListError"
          ? "/lists"
          : "/";
    throw new ConfigRejectedError([{ path, message: (e as Error).message }], { cause: e });
  }
}
