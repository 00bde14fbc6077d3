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

import type { TLSSocket } from "node:tls";
import { sourceKey } from "../../net/source-key.ts";
import { LeafUnavailable } from "../../tls/leaf-minter.ts";
import { answer, type Exchange, type Inspection, type Outcome, type Stage } from "../exchange.ts";
import { untrustedOriginCertOf } from "../proxy-config.ts";
import { matchHttp, type PolicyContexts } from "./policy-request.ts";

/** What the stage needs from the proxy: the minter, and where decrypted sessions go. */
export interface Inspector {
  /** A TLS server socket over the client's, on a leaf for `name` (handshake not yet done). */
  accept(ex: Exchange, name: string): Promise<TLSSocket>;
  /** Serve HTTP/1.1 on the decrypted socket; resolves when the session ends. */
  serve(socket: TLSSocket, inspection: Inspection): Promise<void>;
  /** Handshakes in progress now, and the bounds (handshakeSlots). */
  readonly handshakes: HandshakeSlots;
  readonly handshakeTimeoutMs: number;
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

export function createInspectTls(ctxs: PolicyContexts, inspector: Inspector | undefined): Stage {
  return {
    name: "inspect-tls",
    async run(ex: Exchange): Promise<Outcome> {
      if (inspector === undefined || ex.location?.tlsInspection !== true || !ex.tlsHello)
        return "next";
      // HTTP policies that exempt this host (pinned apps, OS updates) before any decryption.
      const p = matchHttp(ctxs, ex);
      if (p?.action === "do_not_inspect") {
        ex.policy = p;
        ex.action = "do_not_inspect";
        return "next";
      }
      // An origin whose certificate does not verify, to be passed through: it must be known
      // now, while the client's TLS can still go to the origin untouched.
      if (untrustedOriginCertOf(ex.snapshot, p) === "pass_through") {
        const verdict = await inspector.originVerdict(ex);
        if (verdict !== undefined && verdict !== "valid") {
          if (p !== undefined) ex.policy = p;
          ex.originCert = verdict;
          ex.reason = "origin_cert_passed_through";
          return "next";
        }
      }
      const hs = inspector.handshakes;
      if (hs.active >= hs.max) {
        inspector.handshakeResult("refused_busy");
        return answer(ex, 0, "tls_handshake_failed", "too many TLS handshakes in progress");
      }
      const key = sourceKey(ex.clientIp);
      const mine = hs.bySource.get(key) ?? 0;
      if (mine >= hs.perSource) {
        inspector.handshakeResult("refused_source_busy");
        return answer(
          ex,
          0,
          "tls_handshake_failed",
          "too many TLS handshakes in progress from this client",
        );
      }
      const name = ex.sni ?? ex.host;
      let tls: TLSSocket;
      hs.active++;
      hs.bySource.set(key, mine + 1);
      try {
        tls = await inspector.accept(ex, name);
      } catch (e) {
        releaseSlot(hs, key);
        const reason = e instanceof LeafUnavailable ? e.reason : "mint_failed";
        inspector.handshakeResult(reason);
        // No leaf (no intermediate yet, or a name we cannot certify): tunnel it untouched.
        if (e instanceof LeafUnavailable) return "next";
        return answer(ex, 0, "tls_handshake_failed", (e as Error).message);
      }
      const ok = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          tls.destroy();
          resolve(false);
        }, inspector.handshakeTimeoutMs);
        tls.once("secure", () => {
          clearTimeout(timer);
          resolve(true);
        });
        tls.once("error", () => {
          clearTimeout(timer);
          resolve(false);
        });
        tls.once("close", () => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      releaseSlot(hs, key);
      inspector.handshakeResult(ok ? "ok" : "failed");
      const inspection: Inspection = {
        host: ex.host,
        hostFamily: ex.hostFamily,
        port: ex.port,
        sni: ex.sni,
        location: ex.location,
        identity: ex.identity,
        principal: ex.principal,
        tlsVersion: tls.getProtocol() ?? "",
        alpn: typeof tls.alpnProtocol === "string" ? tls.alpnProtocol : "",
      };
      ex.inspection = inspection;
      if (!ok) {
        ex.reason = "tls_handshake_failed";
        ex.socket.destroy();
        return "next";
      }
      await inspector.serve(tls, inspection);
      ex.bytesUp = ex.socket.bytesRead;
      ex.bytesDown = ex.socket.bytesWritten;
      return "next";
    },
  };
}
