// The DNS side of the edge: the current runtime (swapped whole on reload), the pipeline, and the
// entry point every transport calls with raw query bytes. Also the edge's Resolver, so proxied
// connections are subject to the same DNS policy.

import type { ResolveOptions, ResolveResult, Resolver } from "../resolver.ts";
import type { EdgeSnapshot } from "../snapshot.ts";
import { dnsMetrics } from "../telemetry/metrics.ts";
import type { QueryLog } from "../telemetry/query-log.ts";
import { DnsCache } from "./cache/dns-cache.ts";
import type { ClientInfo, DnsExchange } from "./exchange.ts";
import { DnsPipeline } from "./pipeline.ts";
import { createRuntime, type DnsRuntime, type DnsShared } from "./runtime.ts";
import { randomId } from "./upstream/query-id.ts";
import { RRType, rcodeName } from "./wire/constants.ts";
import { decodeMessage, emptyMessage, encodeMessage } from "./wire/message.ts";

export interface DnsServiceOptions {
  readonly log: QueryLog;
  readonly edgeId?: string;
  /** Where unexpected errors go; default: stderr, at most a few per second. */
  readonly onError?: (error: unknown) => void;
}

export class DnsService implements Resolver {
  private rt: DnsRuntime;
  readonly shared: DnsShared;
  readonly pipeline: DnsPipeline;

  constructor(snapshot: EdgeSnapshot, opts: DnsServiceOptions) {
    const metrics = dnsMetrics();
    this.shared = {
      cache: new DnsCache(undefined, { onEvict: () => metrics.cacheEvictions.inc() }),
      log: opts.log,
      inflight: new Map(),
      ...(opts.edgeId ? { edgeId: opts.edgeId } : {}),
    };
    const report = opts.onError ?? throttledStderr();
    this.pipeline = new DnsPipeline((e) => report(e));
    this.rt = createRuntime(snapshot, this.shared);
  }

  get runtime(): DnsRuntime {
    return this.rt;
  }

  /** Build the DNS runtime of a new snapshot (throws on bad resolver settings). */
  prepare(snapshot: EdgeSnapshot): DnsRuntime {
    return createRuntime(snapshot, this.shared, this.rt);
  }

  /** Swap in a prepared runtime; queries already running keep the one they started with. */
  activate(rt: DnsRuntime): void {
    const upstreamsChanged =
      JSON.stringify(rt.snapshot.bundle.resolver.upstreams) !==
        JSON.stringify(this.rt.snapshot.bundle.resolver.upstreams) ||
      JSON.stringify(rt.snapshot.bundle.resolver.conditionalForwarding ?? []) !==
        JSON.stringify(this.rt.snapshot.bundle.resolver.conditionalForwarding ?? []);
    // A different upstream view may answer differently: do not serve the old view's answers.
    if (upstreamsChanged) this.shared.cache.clear();
    this.rt = rt;
  }

  /** Handle one raw query; resolves to the response bytes or undefined (drop). Never rejects. */
  handle(raw: Uint8Array, client: ClientInfo): Promise<Buffer | undefined> {
    const ex: DnsExchange = {
      rt: this.rt,
      client,
      raw,
      ts: Date.now(),
      t0: performance.now(),
      query: undefined,
      location: undefined,
      lookupName: "",
      prefix: [],
      policy: undefined,
      action: "allow",
      answer: undefined,
      stale: undefined,
      cacheKey: undefined,
      response: undefined,
      ede: [],
      cache: "none",
      upstream: undefined,
      reason: undefined,
      out: undefined,
      maxSize: 65535,
    };
    return this.pipeline.run(ex);
  }

  /** Resolver for the HTTP proxy: A and/or AAAA through the full pipeline. */
  async resolve(name: string, opts: ResolveOptions): Promise<ResolveResult> {
    const families: (4 | 6)[] = opts.family ? [opts.family] : [4, 6];
    const addresses: string[] = [];
    let rcode = "NOERROR";
    let blockedBy: ResolveResult["blockedBy"];
    for (const fam of families) {
      const type = fam === 4 ? RRType.A : RRType.AAAA;
      const q = emptyMessage(randomId());
      q.rd = true;
      q.questions.push({ name, type, class: 1 });
      const ex = await this.handleInternal(encodeMessage(q), opts.client);
      if (!ex.out) {
        rcode = "SERVFAIL";
        continue;
      }
      const m = decodeMessage(ex.out);
      if (ex.action === "block" && ex.policy)
        blockedBy = { policyId: ex.policy.id, policyName: ex.policy.name };
      if (m.rcode !== 0 || rcode === "NOERROR") rcode = m.rcode !== 0 ? rcodeName(m.rcode) : rcode;
      for (const rr of m.answers) if (rr.type === type) addresses.push(rr.data as string);
    }
    if (blockedBy) return { addresses: [], rcode, blockedBy };
    return { addresses, rcode };
  }

  private async handleInternal(raw: Buffer, clientIp: string): Promise<DnsExchange> {
    const ex: DnsExchange = {
      rt: this.rt,
      client: { transport: "internal", ip: clientIp, port: 0 },
      raw,
      ts: Date.now(),
      t0: performance.now(),
      query: undefined,
      location: undefined,
      lookupName: "",
      prefix: [],
      policy: undefined,
      action: "allow",
      answer: undefined,
      stale: undefined,
      cacheKey: undefined,
      response: undefined,
      ede: [],
      cache: "none",
      upstream: undefined,
      reason: undefined,
      out: undefined,
      maxSize: 65535,
    };
    await this.pipeline.run(ex);
    return ex;
  }
}

function throttledStderr(): (e: unknown) => void {
  let windowStart = 0;
  let count = 0;
  return (e) => {
    const now = Date.now();
    if (now - windowStart > 1000) {
      windowStart = now;
      count = 0;
    }
    if (++count <= 5) console.error("gatehouse edge dns: internal error:", e);
  };
}
