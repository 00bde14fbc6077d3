// A group of upstreams with a strategy, health and latency tracking, plus the router that sends
// a name to its conditional-forwarding group (longest matching suffix) or the default group.
//
// Strategies: `failover` tries upstreams in configured order; `fastest` orders them by a latency
// EWMA (α = 0.2) so the quickest healthy one goes first; `parallel` races the first two and
// takes the first good answer. An upstream that fails 3 times in a row is skipped for a backoff
// (1 s doubling to 30 s) unless every upstream is down. SERVFAIL/REFUSED/NOTIMP replies count as
// failures so the next upstream gets a chance.
//
// Per upstream, the pool remembers for REMEMBER_MS what it learnt about it: an upstream that
// answered FORMERR to a query with EDNS is asked again at once without it and then asked without
// EDNS (RFC 6891 §6.2.2; FORMERR to the plain query too is a failure, so the client gets
// SERVFAIL); an upstream that does not echo the 0x20 letter case is asked again at once in plain
// case and then in plain case. When every upstream failed and a UDP upstream timed out, that
// upstream is asked once more over TCP (RFC 1035 §7.2: a path that loses UDP may carry TCP).

import { isIP } from "node:net";
import type { ResolverSettings, Upstream } from "@gatehouse/contract";
import { EdgeError } from "@gatehouse/contract/errors";
import { nth } from "../../indexed.ts";
import { u8 } from "../../net/bytes.ts";
import { splitHostPort } from "../../net/host-port.ts";
import { https } from "../../net/node-tls.ts";
import { dnsMetrics, upstreamLatencyOf } from "../../telemetry/metrics.ts";
import { lowerName } from "../wire/name.ts";
import { DotSession } from "./dot-session.ts";
import { upstreamSecureContext } from "./tls-trust.ts";
import {
  exchange,
  tcpExchange,
  tlsConnectFor,
  truncated,
  type UpstreamProtocol,
  type UpstreamTarget,
  udpExchange,
  upstreamError,
  upstreamErrorLabel,
} from "./transports.ts";
import { buildUpstreamQuery, type UpstreamQuestion } from "./upstream-query.ts";

export type Strategy = "failover" | "fastest" | "parallel";

const DEFAULT_TIMEOUT_MS = 2000;
const FAILS_BEFORE_DOWN = 3;
/** How long an upstream's lack of EDNS or 0x20 is remembered (unbound keeps such facts 900 s). */
const REMEMBER_MS = 15 * 60_000;

class UpstreamState {
  readonly target: UpstreamTarget;
  ewmaMs = 0;
  samples = 0;
  consecutiveFailures = 0;
  downUntil = 0;
  backoffMs = 1000;
  /** Until then, queries to it go without EDNS (it answered FORMERR to EDNS). */
  noEdnsUntil = 0;
  /** Until then, queries to it keep the name's case (it did not echo 0x20). */
  plainCaseUntil = 0;

  constructor(target: UpstreamTarget) {
    this.target = target;
  }

  isUp(now: number): boolean {
    return now >= this.downUntil;
  }

  success(ms: number): void {
    this.ewmaMs = this.samples === 0 ? ms : this.ewmaMs * 0.8 + ms * 0.2;
    this.samples++;
    this.consecutiveFailures = 0;
    this.backoffMs = 1000;
    this.downUntil = 0;
  }

  failure(now: number): void {
    if (++this.consecutiveFailures >= FAILS_BEFORE_DOWN) {
      this.downUntil = now + this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    }
  }
}

/** Parse `udp://1.1.1.1:53`, `tcp://…`, `tls://host:853`, `https://host/dns-query`, or a bare `ip[:port]`. */
export function parseUpstream(u: Upstream): UpstreamTarget {
  const timeoutMs = u.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const m = /^([a-z]+):\/\/(.*)$/.exec(u.address);
  const scheme = (m?.[1] ?? "udp") as string;
  const rest = m?.[2] ?? u.address;
  if (scheme === "https") {
    const url = new URL(u.address);
    const secureContext = upstreamSecureContext(u);
    return {
      protocol: "https",
      address: u.address,
      // WHATWG URLs keep IPv6 hosts in brackets; sockets want the bare address.
      host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: Number(url.port || 443),
      url: url.toString(),
      path: `${url.pathname}${url.search}`,
      timeoutMs,
      ...(u.serverName ? { serverName: u.serverName } : {}),
      ...(secureContext ? { secureContext } : {}),
      // Idle connections close after 30 s and never hold the process open (the agent unrefs
      // free sockets); 16 connections bound what one busy upstream costs.
      agent: new (https().Agent)({ keepAlive: true, maxSockets: 16, timeout: 30_000 }),
    };
  }
  const protocols: Record<string, UpstreamProtocol> = {
    udp: "udp",
    tcp: "tcp",
    tls: "tls",
    dns: "udp",
  };
  const protocol = protocols[scheme];
  if (!protocol)
    throw new Error(`upstream "${u.address}": unknown scheme "${scheme}" (udp, tcp, tls, https)`);
  if (protocol !== "tls" && (u.ca !== undefined || u.caFile !== undefined))
    throw new Error(
      `upstream "${u.address}": ca and caFile apply to tls:// and https:// upstreams only`,
    );
  const hp = splitHostPort(rest.replace(/\/$/, ""), protocol === "tls" ? 853 : 53);
  // Plain DNS upstreams are addressed by IP: resolving their names would need a resolver, and
  // replies are matched against the address we sent to (RFC 5452 §4.1).
  if ((protocol === "udp" || protocol === "tcp") && isIP(hp.host) === 0)
    throw new Error(
      `upstream "${u.address}": ${protocol} upstreams need an IP address, not a host name`,
    );
  const secureContext = protocol === "tls" ? upstreamSecureContext(u) : undefined;
  const target: { -readonly [K in keyof UpstreamTarget]: UpstreamTarget[K] } = {
    protocol,
    address: u.address,
    host: hp.host,
    port: hp.port,
    timeoutMs,
    ...(u.serverName ? { serverName: u.serverName } : {}),
    ...(secureContext ? { secureContext } : {}),
  };
  if (protocol === "tls") target.dot = new DotSession(target, () => tlsConnectFor(target));
  return target;
}

export interface UpstreamAnswer {
  readonly wire: Buffer;
  readonly upstream: string;
  /**
   * Reached over a channel that authenticates the upstream (DoT or DoH, certificate verified):
   * only then is its AD bit believed (RFC 4035 §4.9.3, RFC 6840 §5.7).
   */
  readonly authenticated: boolean;
}

/** A UDP upstream's timeout (the query is then asked once more over TCP). */
function udpTimeout(s: UpstreamState, e: unknown): boolean {
  return s.target.protocol === "udp" && e instanceof EdgeError && e.kind === "upstream_timeout";
}

/** Failure rcodes that mean "ask someone else": FORMERR, SERVFAIL, NOTIMP, REFUSED. */
function isBadRcode(rcode: number): boolean {
  return rcode === 1 || rcode === 2 || rcode === 4 || rcode === 5;
}

export class UpstreamGroup {
  readonly states: UpstreamState[];
  readonly strategy: Strategy;

  constructor(upstreams: readonly Upstream[], strategy: Strategy) {
    this.states = upstreams.map((u) => new UpstreamState(parseUpstream(u)));
    this.strategy = strategy;
  }

  /** Upstreams in the order to try now. */
  private order(now: number): readonly UpstreamState[] {
    const states = this.states;
    // Every upstream up, in configured order (the common case): the list itself, no copy.
    if (this.strategy !== "fastest") {
      let up = 0;
      for (const s of states) if (s.isUp(now)) up++;
      if (up === states.length) return states;
    }
    let list = states.filter((s) => s.isUp(now));
    if (list.length === 0) list = [...this.states]; // all down: try anyway
    if (this.strategy === "fastest")
      list.sort((a, b) => (a.samples === 0 ? 0 : a.ewmaMs) - (b.samples === 0 ? 0 : b.ewmaMs));
    return list;
  }

  /** Ask `s`, over TCP instead of its own protocol when `viaTcp`. */
  private async one(
    s: UpstreamState,
    question: UpstreamQuestion,
    use0x20: boolean,
    signal?: AbortSignal,
    viaTcp = false,
  ): Promise<UpstreamAnswer> {
    const m = dnsMetrics();
    const protocol = viaTcp ? "tcp" : s.target.protocol;
    const now = Date.now();
    let edns = now >= s.noEdnsUntil;
    let mixedCase = use0x20 && now >= s.plainCaseUntil;
    for (;;) {
      const { wire: query, expect } = buildUpstreamQuery(question, edns, mixedCase);
      const t0 = performance.now();
      let wire: Buffer;
      try {
        if (viaTcp) wire = await tcpExchange(s.target, query, expect, signal);
        else if (protocol === "udp") {
          // The UDP sockets' own promise (exchange() would add an async layer per miss); a
          // truncated reply is asked again over TCP, as exchange() does.
          wire = await udpExchange(s.target, query, expect, signal);
          if (truncated(wire)) wire = await tcpExchange(s.target, query, expect, signal);
        } else wire = await exchange(s.target, query, expect, signal);
      } catch (e) {
        // A race lost to the other parallel upstream is not this upstream's failure.
        if (!signal?.aborted) {
          if (e instanceof EdgeError && e.kind === "upstream_case" && mixedCase) {
            s.plainCaseUntil = Date.now() + REMEMBER_MS;
            mixedCase = false;
            m.upstreamFallbacks.inc({ kind: "no_0x20" });
            continue;
          }
          s.failure(Date.now());
          const reason = upstreamErrorLabel(e);
          m.upstreamErrors.inc({ protocol, reason });
        }
        if (e instanceof EdgeError) e.where = s.target.address;
        throw e;
      }
      const ms = performance.now() - t0;
      upstreamLatencyOf(protocol).observe(ms / 1000);
      const rcode = u8(wire, 3) & 0xf;
      if (rcode === 1 && edns) {
        // RFC 6891 §6.2.2: a server that does not understand EDNS answers FORMERR; ask again
        // without it, and keep asking it so for a while.
        s.noEdnsUntil = Date.now() + REMEMBER_MS;
        edns = false;
        m.upstreamFallbacks.inc({ kind: "no_edns" });
        continue;
      }
      if (isBadRcode(rcode)) {
        s.failure(Date.now());
        m.upstreamErrors.inc({ protocol, reason: "rcode" });
        const e = upstreamError("upstream_rcode", `${s.target.address} answered rcode ${rcode}`);
        e.where = s.target.address;
        throw e;
      }
      s.success(ms);
      const authenticated = !viaTcp && (protocol === "tls" || protocol === "https");
      return { wire, upstream: s.target.address, authenticated };
    }
  }

  /**
   * Ask the upstreams in order (or race the first two: `parallel`) until one answers; when all
   * failed and a UDP upstream timed out, that one once more over TCP. The first upstream's own
   * promise carries the common case (no async layer of its own per miss); the rest are asked
   * only after it failed.
   */
  query(question: UpstreamQuestion, use0x20: boolean): Promise<UpstreamAnswer> {
    const list = this.order(Date.now());
    if (list.length === 0)
      return Promise.reject(upstreamError("upstream_network", "no upstreams configured"));
    if (this.strategy === "parallel" && list.length >= 2) return this.race(list, question, use0x20);
    const first = nth(list, 0);
    return this.one(first, question, use0x20).catch((e: unknown) =>
      this.rest(list, 1, question, use0x20, e, udpTimeout(first, e) ? first : undefined),
    );
  }

  /** `parallel`: the first two raced, the rest in order if both failed. */
  private async race(
    list: readonly UpstreamState[],
    question: UpstreamQuestion,
    use0x20: boolean,
  ): Promise<UpstreamAnswer> {
    let udpTimedOut: UpstreamState | undefined;
    const ac = new AbortController();
    const two = list.slice(0, 2);
    try {
      const r = await Promise.any(two.map((s) => this.one(s, question, use0x20, ac.signal)));
      ac.abort();
      return r;
    } catch (e) {
      const errors = (e as AggregateError).errors ?? [e];
      for (const [k, err] of errors.entries())
        if (udpTimedOut === undefined && udpTimeout(nth(two, k), err)) udpTimedOut = nth(two, k);
      return this.rest(list, 2, question, use0x20, errors[0], udpTimedOut);
    }
  }

  /**
   * The upstreams from `list[from]` on, after those before failed (`lastError` the latest
   * failure so far; `udpTimedOut` a UDP upstream among them that timed out).
   */
  private async rest(
    list: readonly UpstreamState[],
    from: number,
    question: UpstreamQuestion,
    use0x20: boolean,
    lastError: unknown,
    udpTimedOut: UpstreamState | undefined,
  ): Promise<UpstreamAnswer> {
    for (let i = from; i < list.length; i++) {
      try {
        return await this.one(nth(list, i), question, use0x20);
      } catch (e) {
        lastError = e;
        if (udpTimedOut === undefined && udpTimeout(nth(list, i), e)) udpTimedOut = nth(list, i);
      }
    }
    if (udpTimedOut) {
      dnsMetrics().upstreamFallbacks.inc({ kind: "tcp" });
      try {
        return await this.one(udpTimedOut, question, use0x20, undefined, true);
      } catch {
        // The UDP timeout is what the client hears about.
      }
    }
    throw lastError instanceof Error
      ? lastError
      : upstreamError("upstream_network", String(lastError));
  }
}

export class UpstreamRouter {
  readonly defaultGroup: UpstreamGroup;
  /** Suffix → group, for conditional forwarding; matched longest-suffix first. */
  private readonly bySuffix = new Map<string, UpstreamGroup>();
  private readonly maxLabels: number;
  /** Identifies this upstream configuration in cache keys. */
  readonly view: string;

  constructor(settings: ResolverSettings) {
    const strategy = settings.strategy ?? "failover";
    this.defaultGroup = new UpstreamGroup(settings.upstreams, strategy);
    let maxLabels = 0;
    for (const cf of settings.conditionalForwarding ?? []) {
      const suffix = lowerName(cf.suffix.replace(/\.$/, ""));
      this.bySuffix.set(suffix, new UpstreamGroup(cf.upstreams, strategy));
      maxLabels = Math.max(maxLabels, suffix.split(".").length);
    }
    this.maxLabels = maxLabels;
    this.view = "d";
  }

  /** The group for a (lowercased) name and a short view id for the cache key. */
  route(name: string): { group: UpstreamGroup; view: string } {
    if (this.bySuffix.size > 0) {
      let i = 0;
      // Walk from the full name to shorter suffixes: the first hit is the longest match.
      for (;;) {
        const suffix = i === 0 ? name : name.slice(i);
        if (suffix.split(".").length <= this.maxLabels) {
          const g = this.bySuffix.get(suffix);
          if (g) return { group: g, view: `cf:${suffix}` };
        }
        const dot = name.indexOf(".", i);
        if (dot === -1) break;
        i = dot + 1;
      }
    }
    return { group: this.defaultGroup, view: this.view };
  }
}
