// The CONNECT-only stages (RFC 9110 §9.3.6). After the shared parse-target → identify → admit →
// policy-request → resolve-peer, a tunnel: acknowledges the CONNECT (200), peeks the client's TLS
// ClientHello for the SNI without terminating TLS, runs the network policies again on what the
// client actually sent, and only then dials the pinned address and splices the two sockets.
// Peeking before dialling means an SNI-blocked tunnel never touches the destination.

import type { Socket } from "node:net";
import {
  type ClientHelloResult,
  MAX_CLIENT_HELLO_BYTES,
  parseClientHello,
} from "./client-hello.ts";
import { answer, type Exchange, type Outcome, type Stage } from "./exchange.ts";
import type { ProxyLimits } from "./limits.ts";
import { decide, matchNet, type PolicyContexts } from "./policy-request.ts";
import type { ProxyMetrics } from "./proxy-metrics.ts";
import { connectForRelay, relay } from "./relay.ts";
import { privateAllowed } from "./resolve-peer.ts";
import { endWithAnswer } from "./respond.ts";

// RFC 8446 §6: an alert record (content type 21), fatal (2), access_denied (49). Sent in place
// of a ServerHello so the client reports a refusal instead of a network error.
const TLS_ACCESS_DENIED = Buffer.from([21, 3, 3, 0, 2, 2, 49]);
const ESTABLISHED = Buffer.from("HTTP/1.1 200 Connection Established\r\n\r\n", "latin1");

export function createEstablish(): Stage {
  return {
    name: "establish",
    run(ex: Exchange): Outcome {
      // RFC 9110 §9.3.6: any 2xx turns the connection into a tunnel; no body, no framing.
      ex.socket.write(ESTABLISHED);
      ex.established = true;
      ex.status = 200;
      return "next";
    },
  };
}

/** Read until a ClientHello is complete, the client is shown not to speak TLS, or time is up. */
export function createPeekClientHello(limits: ProxyLimits): Stage {
  return {
    name: "peek-client-hello",
    run(ex: Exchange): Promise<Outcome> {
      const socket = ex.socket;
      let buf = ex.firstFlight ?? Buffer.alloc(0);
      return new Promise<Outcome>((resolve) => {
        const finish = (o: Outcome) => {
          clearTimeout(timer);
          socket.off("data", onData);
          socket.off("close", onClose);
          socket.off("end", onClose);
          socket.pause();
          ex.firstFlight = buf;
          resolve(o);
        };
        const judge = (r: ClientHelloResult): boolean => {
          if (r.status === "incomplete") {
            if (buf.length < MAX_CLIENT_HELLO_BYTES) return false;
            finish(answer(ex, 0, "no_client_hello", "ClientHello too large"));
            return true;
          }
          if (r.status === "ok") ex.sni = r.sni;
          if (r.status === "malformed") {
            // A hello we cannot read might still be accepted by the origin with an SNI our
            // policies never saw: refuse rather than let it through unchecked.
            finish(answer(ex, 0, "no_client_hello", `malformed ClientHello: ${r.detail}`));
            return true;
          }
          finish("next"); // ok, or not TLS at all: policies see no SNI
          return true;
        };
        const onData = (chunk: Buffer) => {
          buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
          judge(parseClientHello(buf));
        };
        const onClose = () => finish("drop");
        // Server-speaks-first protocols send nothing: after the wait, go on without an SNI.
        const timer = setTimeout(() => {
          if (buf.length === 0) finish("next");
          else finish(answer(ex, 0, "no_client_hello", "incomplete ClientHello"));
        }, limits.clientHelloTimeoutMs);
        if (buf.length > 0 && judge(parseClientHello(buf))) return;
        socket.on("data", onData);
        socket.once("close", onClose);
        // The listener keeps half-open sockets (allowHalfOpen): a client that ends before its
        // ClientHello is complete will send nothing more to judge.
        socket.once("end", onClose);
        socket.resume();
      });
    },
  };
}

export function createPolicySni(ctxs: PolicyContexts): Stage {
  return {
    name: "policy-sni",
    run(ex: Exchange): Outcome {
      // Same network policies, now with the SNI the client really sent (and net.sni.mismatch).
      const before = ex.policy;
      ex.policy = undefined;
      ex.privateAllowed = undefined;
      const o = decide(ex, matchNet(ctxs, ex, true));
      if (o === "respond") ex.reason = "sni_blocked";
      else if (ex.policy === undefined) ex.policy = before;
      // An internal destination was opened by the policy that matched the presumed SNI; the
      // one that matches the real ClientHello must open it too, or the tunnel is refused.
      if (o === "next" && ex.peerPrivate && !privateAllowed(ex, ex.peerIp)) {
        ex.action = "block";
        return answer(ex, 403, "private_target", "the destination is an internal address");
      }
      return o;
    },
  };
}

export function createDial(limits: ProxyLimits, metrics: ProxyMetrics): Stage {
  return {
    name: "dial",
    run(ex: Exchange): Promise<Outcome> {
      return new Promise<Outcome>((resolve) => {
        const t0 = performance.now();
        // The pinned, checked address: never the name (resolve-peer).
        const up = connectForRelay({
          host: ex.peerIp,
          port: ex.port,
          family: ex.peerFamily || undefined,
          noDelay: true,
        });
        const timer = setTimeout(() => {
          up.destroy();
          resolve(answer(ex, 504, "connect_timeout", "connecting to the destination timed out"));
        }, limits.connectTimeoutMs);
        let connected = false;
        up.once("connect", () => {
          clearTimeout(timer);
          connected = true;
          metrics.connectLatency((performance.now() - t0) / 1000);
          ex.upstreamSocket = up;
          resolve("next");
        });
        // Stays registered after connecting (a no-op then), so an error between this stage and
        // splice never finds the socket without a listener.
        const onError = (err: NodeJS.ErrnoException) => {
          if (connected) return;
          clearTimeout(timer);
          resolve(
            answer(
              ex,
              502,
              "connect_failed",
              `could not reach the destination (${err.code ?? "error"})`,
            ),
          );
        };
        up.on("error", onError);
      });
    },
  };
}

export function createSplice(limits: ProxyLimits, metrics: ProxyMetrics): Stage {
  return {
    name: "splice",
    async run(ex: Exchange): Promise<Outcome> {
      const up = ex.upstreamSocket!;
      const first = ex.firstFlight;
      ex.firstFlight = undefined;
      const moved = await relay(ex, ex.socket, up, first, limits, metrics);
      ex.bytesUp = moved.up;
      ex.bytesDown = moved.down;
      return "next";
    },
  };
}

/** Answers for a CONNECT: an HTTP response before the 200, a TLS alert after it. */
export function createTunnelRespond(): Stage {
  return {
    name: "respond",
    run(ex: Exchange): Outcome {
      const socket = ex.socket;
      if (ex.answer === undefined || socket.destroyed) return "next";
      if (ex.established) {
        if (ex.reason === "sni_blocked") {
          // The 200 already went out; the log shows the decision, not that formality.
          ex.status = 403;
          socket.end(TLS_ACCESS_DENIED);
        } else socket.destroy();
        return "next";
      }
      endWithAnswer(ex);
      return "next";
    },
  };
}

export type { Socket };
