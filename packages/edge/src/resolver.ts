// How the HTTP proxy resolves names: through the DNS pipeline, so DNS policy (blocks,
// overrides, safe search) applies to proxied traffic exactly as to direct DNS clients.

export interface ResolveOptions {
  /** The client's address (for location and rule fields). */
  readonly client: string;
  /** Address family wanted; both when absent. */
  readonly family?: 4 | 6;
}

export interface ResolveResult {
  readonly addresses: string[];
  /** DNS response code name: NOERROR, NXDOMAIN, SERVFAIL, REFUSED, … */
  readonly rcode: string;
  /** Set when a DNS policy blocked the name. */
  readonly blockedBy?: { readonly policyId: string; readonly policyName: string };
}

export interface Resolver {
  resolve(name: string, opts: ResolveOptions): Promise<ResolveResult>;
}
