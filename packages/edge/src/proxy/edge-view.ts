// The proxy's names for what it reads from the edge's shared core (snapshot, policies,
// identities, resolver, query log), in one place so the stages import one module.

export type { Identity as IdentityView } from "../identify/identity-index.ts";
export type { CompiledPolicy as MatchedPolicy } from "../policy/policy-set.ts";
export type { ResolveResult, Resolver as ProxyResolver } from "../resolver.ts";
export type { EdgeSnapshot as ProxySnapshot } from "../snapshot.ts";
export type { QueryLog as ProxyQueryLog } from "../telemetry/query-log.ts";
