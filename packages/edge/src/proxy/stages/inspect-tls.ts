// Stage inspect-tls: decrypt the tunnel when its location inspects TLS. After policy-sni (the
// network policies allowed the destination with the real SNI), before connect-destination and
// relay-tunnel, which it replaces when it inspects. Order, as gateways document it: network
// policies at CONNECT time → HTTP policies whose action is `do_not_inspect`, judged on what is
// known before decryption (host from the SNI or CONNECT, identity, location) → the TLS
// handshake with the client, on a leaf minted for the name → the HTTP pipeline on every
// decrypted request, exactly as for plain HTTP (inspected.ts hands the session to it), with TLS
// toward the origin. Not inspected, and tunnelled as before: a client that did not send a TLS
// ClientHello, a location without `tlsInspection`, a `do_not_inspect` match, an origin whose
// certificate does not verify when `untrustedOriginCert` is `pass_through` (checked first with a
// probe of the origin), an edge without an intermediate CA yet. The stage waits until the
// decrypted session ends.
//
// Per connection it keeps little: with the leaf's context cached the TLS socket is made at once
// (no promise), the handshake's deadline is checked by one sweep for all handshakes (no timer
// each), and one promise waits for the handshake and then the session.

import type { TLSSocket } from "node:tls";
import { sourceKey } from "../../net/source-key.ts";
import type { Sweep } from "../../net/sweep.ts";
import type { PolicySet } from "../../policy/policy-set.ts";
import { LeafUnavailable } from "../../tls/leaf-minter.ts";
import type { MatchedPolicy } from "../edge-view.ts";
import { answer, type Exchange, type Inspection, type Outcome, type Stage } from "../exchange.ts";
import { untrustedOriginCertOf } from "../proxy-config.ts";
import { matchHttp, type PolicyContexts } from "./policy-request.ts";

/** What the stage needs from the proxy: the minter, and where decrypted sessions go. */
export interface Inspector {
  /**
   * A TLS server socket over the client's, on a leaf for `name` (handshake not yet done): at
   * once when the leaf is cached, else once it is minted. An error on it destroys it.
   */
  accept(ex: Exchange, name: string): TLSSocket | Promise<TLSSocket>;
  /** Serve HTTP/1.1 or h2 on the decrypted socket; resolves when the session ends. */
  serve(socket: TLSSocket, inspection: Inspection): Promise<void>;
  /** Handshakes in progress now, and the bounds (handshakeSlots). */
  readonly handshakes: HandshakeSlots;
  readonly handshakeTimeoutMs: number;
  /** Where handshakes in progress keep their deadlines (checked by one interval). */
  readonly handshakeSweep: Sweep<Handshake>;
  handshakeResult(result: string): void;
  /**
   * The origin's certificate verdict before any decryption ("valid" or the verification code;
   * undefined when it could not be had): asked only when an untrusted origin is to be passed
   * through (tls/origin-probe.ts).
   */
  originVerdict(ex: Exchange): Promise<string | undefined>;
}

/**
 * Client handshakes in progress: at most `max` at once, and at most `perSource` from one source
 * (net/source-key.ts: an IPv4 address, an IPv6 /64). Without the second bound one client that
 * opens CONNECTs and stalls each handshake until tlsHandshakeTimeoutMs held every slot, and every
 * other client's inspected CONNECT was refused meanwhile.
 */
export interface HandshakeSlots {
  active: number;
  readonly max: number;
  readonly perSource: number;
  /** Handshakes in progress by source key (no entry: none). */
  readonly bySource: Map<string, number>;
}

/** Slots for `max` handshakes at once, a quarter of them (at least one) for any one source. */
export function handshakeSlots(max: number): HandshakeSlots {
  return { active: 0, max, perSource: Math.max(1, Math.ceil(max / 4)), bySource: new Map() };
}

function releaseSlot(hs: HandshakeSlots, key: string): void {
  hs.active--;
  const n = hs.bySource.get(key) ?? 1;
  if (n <= 1) hs.bySource.delete(key);
  else hs.bySource.set(key, n - 1);
}

/**
 * Whether HTTP policies must be judged before decryption: only a `do_not_inspect` policy, or one
 * that sets its own `untrustedOriginCert`, can change what this stage does (the match is
 * otherwise unused). Decided once per policy set.
 */
const judgedBeforeDecryption = new WeakMap<PolicySet, boolean>();
function httpMatchMatters(set: PolicySet): boolean {
  let v = judgedBeforeDecryption.get(set);
  if (v === undefined) {
    v = set.all.some(
      (p) => p.action === "do_not_inspect" || p.settings.untrustedOriginCert !== undefined,
    );
    judgedBeforeDecryption.set(set, v);
  }
  return v;
}

/** One inspected connection: its handshake (with a deadline in the sweep), then its session. */
export class Handshake {
  deadline: number;
  readonly #ex: Exchange;
  readonly #tls: TLSSocket;
  readonly #inspector: Inspector;
  readonly #done: (o: Outcome) => void;
  readonly #fail: (e: unknown) => void;
  /** The source's key in the handshake slots. */
  readonly #source: string;
  #settled = false;

  constructor(
    ex: Exchange,
    tls: TLSSocket,
    inspector: Inspector,
    source: string,
    done: (o: Outcome) => void,
    fail: (e: unknown) => void,
  ) {
    this.#ex = ex;
    this.#source = source;
    this.#tls = tls;
    this.#inspector = inspector;
    this.#done = done;
    this.#fail = fail;
    this.deadline = performance.now() + inspector.handshakeTimeoutMs;
    inspector.handshakeSweep.items.add(this);
    // A failed handshake (an error destroys the socket) and a timeout both end in "close";
    // each event comes once (renegotiation is refused), so no `once` wrappers.
    tls.on("secure", this.#secure);
    tls.on("close", this.#close);
  }

  /** Past the deadline (the sweep): the handshake failed. */
  timeout(): void {
    this.#tls.destroy();
    this.#end(false);
  }

  readonly #secure = (): void => {
    if (!this.#end(true)) return;
    const ex = this.#ex;
    this.#inspector.serve(this.#tls, ex.inspection as Inspection).then(() => {
      ex.bytesUp = ex.socket.bytesRead;
      ex.bytesDown = ex.socket.bytesWritten;
      this.#done("next");
    }, this.#fail);
  };

  readonly #close = (): void => {
    this.#end(false);
  };

  /** The handshake is over (`ok`); false when it already was. */
  #end(ok: boolean): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    const inspector = this.#inspector;
    inspector.handshakeSweep.items.delete(this);
    releaseSlot(inspector.handshakes, this.#source);
    inspector.handshakeResult(ok ? "ok" : "failed");
    const ex = this.#ex;
    const tls = this.#tls;
    ex.inspection = {
      host: ex.host,
      hostFamily: ex.hostFamily,
      port: ex.port,
      sni: ex.sni,
      location: ex.location,
      identity: ex.identity,
      principal: ex.principal,
      tlsVersion: ok ? (tls.getProtocol() ?? "") : "",
      alpn: ok && typeof tls.alpnProtocol === "string" ? tls.alpnProtocol : "",
    };
    if (!ok) {
      ex.reason = "tls_handshake_failed";
      ex.socket.destroy();
      this.#done("next");
    }
    return ok;
  }
}

export function createInspectTls(ctxs: PolicyContexts, inspector: Inspector | undefined): Stage {
  const started = (ex: Exchange, tls: TLSSocket, source: string): Promise<Outcome> =>
    new Promise<Outcome>((resolve, reject) => {
      new Handshake(ex, tls, inspector as Inspector, source, resolve, reject);
    });

  /** Decrypt: the TLS socket on the leaf, its handshake, then the session. */
  function inspect(ex: Exchange, i: Inspector): Outcome | Promise<Outcome> {
    const hs = i.handshakes;
    if (hs.active >= hs.max) {
      i.handshakeResult("refused_busy");
      return answer(ex, 0, "tls_handshake_failed", "too many TLS handshakes in progress");
    }
    const source = sourceKey(ex.clientIp);
    const mine = hs.bySource.get(source) ?? 0;
    if (mine >= hs.perSource) {
      i.handshakeResult("refused_source_busy");
      return answer(
        ex,
        0,
        "tls_handshake_failed",
        "too many TLS handshakes in progress from this client",
      );
    }
    hs.active++;
    hs.bySource.set(source, mine + 1);
    let tls: TLSSocket | Promise<TLSSocket>;
    try {
      tls = i.accept(ex, ex.sni ?? ex.host);
    } catch (e) {
      return failedAccept(ex, source, e);
    }
    if (tls instanceof Promise)
      return tls.then(
        (t) => started(ex, t, source),
        (e: unknown) => failedAccept(ex, source, e),
      );
    return started(ex, tls, source);
  }

  /** No leaf (no intermediate yet, a name we cannot certify), or minting failed. */
  function failedAccept(ex: Exchange, source: string, e: unknown): Outcome {
    if (inspector !== undefined) {
      releaseSlot(inspector.handshakes, source);
      inspector.handshakeResult(e instanceof LeafUnavailable ? e.reason : "mint_failed");
    }
    // No leaf: tunnel it untouched.
    if (e instanceof LeafUnavailable) return "next";
    return answer(ex, 0, "tls_handshake_failed", (e as Error).message);
  }

  /** The origin's certificate judged first: one that does not verify is passed through. */
  async function passThroughFirst(
    ex: Exchange,
    i: Inspector,
    p: MatchedPolicy | undefined,
  ): Promise<Outcome> {
    const verdict = await i.originVerdict(ex);
    if (verdict !== undefined && verdict !== "valid") {
      // The tunnel's record names the HTTP policy that matched (judged now if it was skipped).
      const matched = p ?? matchHttp(ctxs, ex);
      if (matched !== undefined) ex.policy = matched;
      ex.originCert = verdict;
      ex.reason = "origin_cert_passed_through";
      return "next";
    }
    return inspect(ex, i);
  }

  return {
    name: "inspect-tls",
    run(ex: Exchange): Outcome | Promise<Outcome> {
      if (inspector === undefined || ex.location?.tlsInspection !== true || !ex.tlsHello)
        return "next";
      // HTTP policies that exempt this host (pinned apps, OS updates) before any decryption.
      const p = httpMatchMatters(ex.snapshot.policies.http) ? matchHttp(ctxs, ex) : undefined;
      if (p?.action === "do_not_inspect") {
        ex.policy = p;
        ex.action = "do_not_inspect";
        return "next";
      }
      // An origin whose certificate does not verify, to be passed through: it must be known
      // now, while the client's TLS can still go to the origin untouched.
      if (untrustedOriginCertOf(ex.snapshot, p) === "pass_through")
        return passThroughFirst(ex, inspector, p);
      return inspect(ex, inspector);
    },
  };
}
