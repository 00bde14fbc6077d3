// Per-client settings (bundle `clients`, the dashboard's client page): blocking off, safe search
// on, DNS policies skipped. Compiled once per config into a map by client address (every form
// the servers report, client-keys.ts); undefined when no client has settings, so the check per
// query is nothing at all then, and one Map.get on the address otherwise.

import type { ClientSettings } from "@gatehouse/contract";
import { clientKeys } from "./client-keys.ts";

export interface ClientRule {
  /** false: DNS block policies do not block this client. */
  readonly blocking: boolean;
  readonly safeSearch: boolean;
  /** DNS policy ids this client is exempt from; undefined: none. */
  readonly skip: ReadonlySet<string> | undefined;
}

export class ClientRules {
  readonly #byClient: ReadonlyMap<string, ClientRule>;

  private constructor(byClient: ReadonlyMap<string, ClientRule>) {
    this.#byClient = byClient;
  }

  /** The bundle's client settings; undefined when none changes anything. */
  static of(clients: readonly ClientSettings[] | undefined): ClientRules | undefined {
    if (!clients || clients.length === 0) return undefined;
    const byClient = new Map<string, ClientRule>();
    for (const c of clients) {
      const skip =
        c.skipPolicies && c.skipPolicies.length > 0 ? new Set(c.skipPolicies) : undefined;
      const rule: ClientRule = {
        blocking: c.blocking !== false,
        safeSearch: c.safeSearch === true,
        skip,
      };
      if (rule.blocking && !rule.safeSearch && skip === undefined) continue;
      for (const k of clientKeys(c.client)) byClient.set(k, rule);
    }
    return byClient.size === 0 ? undefined : new ClientRules(byClient);
  }

  get(ip: string): ClientRule | undefined {
    return this.#byClient.get(ip);
  }

  /** Every address (as keys the servers report) with settings, for the memo bypass. */
  clients(): Iterable<string> {
    return this.#byClient.keys();
  }
}
