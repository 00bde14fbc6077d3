// The upgrade-only stages (RFC 9110 §7.8, WebSocket handshakes per RFC 6455 §4): a plain-HTTP
// request carrying `Connection: upgrade` and `Upgrade: <protocols>` runs the same stages as any
// request (target, identity, admission, policies, resolution, pinned origin, upstream head), is
// sent to the origin with the upgrade asked for again (Connection and Upgrade are hop-by-hop,
// so this hop re-states them), and only after the origin's 101 does the proxy answer 101 and
// relay bytes both ways. Any other answer from the origin is relayed as a response that ends
// the connection (node:http hands over the raw socket for upgrade requests: nothing after this
// request on it is read as HTTP).

import { answer, type Exchange, type Outcome, type Stage } from "./exchange.ts";
import { originRequest } from "./forward.ts";
import { downstreamResponseHeaders, headerValue } from "./hop-by-hop.ts";
import { OriginCall, socketWriter } from "./http1/origin-call.ts";
import type { OriginPool } from "./http1/origin-pool.ts";
import type { ProxyLimits } from "./limits.ts";
import type { ProxyMetrics } from "./proxy-metrics.ts";
import { type RelayBytes, relay } from "./relay.ts";
import { endWithAnswer, rawHead } from "./respond.ts";

// RFC 9110 §7.8: Upgrade = #protocol, protocol = protocol-name ["/" protocol-version] (tokens).
const UPGRADE_LIST =
  /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(\/[!#$%&'*+.^_`|~0-9A-Za-z-]+)?(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+(\/[!#$%&'*+.^_`|~0-9A-Za-z-]+)?)*$/;

/** Before identify: an upgrade request whose framing we would have to guess is refused. */
export function createCheckUpgrade(): Stage {
  return {
    name: "check-upgrade",
    run(ex: Exchange): Outcome {
      const value = ex.req.header("upgrade") ?? "";
      if (!UPGRADE_LIST.test(value)) {
        return answer(ex, 400, "bad_request", "invalid Upgrade header");
      }
      // The connection loop hands over the raw socket right after the head, so a body would be
      // ours to frame; handshakes carry none (RFC 6455 §4.1 is a GET), so refuse instead of guessing.
      if (ex.req.hasBody) {
        return answer(ex, 400, "bad_request", "an upgrade request with a body is not supported");
      }
      if (ex.req.httpVersionMinor !== 1) {
        return answer(ex, 400, "bad_request", "Upgrade needs HTTP/1.1");
      }
      return "next";
    },
  };
}

/** Send the request with the upgrade asked for; wait for the 101 (or any final response). */
export function createForwardUpgrade(pool: OriginPool): Stage {
  return {
    name: "forward",
    async run(ex: Exchange): Promise<Outcome> {
      const call = new OriginCall();
      ex.socket.once("close", call.clientClosed);
      pool.request(originRequest(ex, undefined, ex.req.header("upgrade")!), call);
      try {
        await call.head;
      } finally {
        ex.socket.off("close", call.clientClosed);
      }
      ex.upstream = call;
      ex.status = call.statusCode;
      return "next";
    },
  };
}

/** Bytes a spliced relay moved past the client socket (its counters never saw them). */
const kernelBytes = new WeakMap<Exchange, RelayBytes>();

/**
 * After the client socket's own bytes were attributed to an upgraded exchange: add what the
 * kernel relayed on it.
 */
export function addKernelRelayedBytes(ex: Exchange): void {
  const moved = kernelBytes.get(ex);
  if (moved === undefined) return;
  ex.bytesUp += moved.kernelUp;
  ex.bytesDown += moved.kernelDown;
}

/** After policy-response: the origin switched protocols, so do we, then relay both ways. */
export function createSwitchProtocols(
  via: string,
  limits: ProxyLimits,
  metrics: ProxyMetrics,
): Stage {
  return {
    name: "switch-protocols",
    async run(ex: Exchange): Promise<Outcome> {
      const call = ex.upstream;
      const up = call?.upgradedSocket;
      if (call === undefined || up === undefined) return "next";
      const headers = downstreamResponseHeaders(call.headers!, via);
      // Connection and Upgrade are hop-by-hop: stated again for this hop (RFC 9110 §7.8).
      headers.push(
        "connection",
        "upgrade",
        "upgrade",
        headerValue(call.headers!, "upgrade") ?? ex.req.header("upgrade")!,
      );
      ex.socket.write(rawHead(101, headers), "latin1");
      // Bytes the origin sent right after its 101 go to the client first.
      const early = call.upgradeHead;
      if (early !== undefined && early.length > 0) ex.socket.write(early);
      ex.established = true;
      const first = ex.firstFlight;
      ex.firstFlight = undefined;
      const moved = await relay(ex, ex.socket, up, first, limits, metrics);
      if (moved.kernelUp > 0 || moved.kernelDown > 0) kernelBytes.set(ex, moved);
      return "next";
    },
  };
}

/** Our own answer, or a non-101 answer from the origin, on the raw socket; then close. */
export function createUpgradeRespond(via: string): Stage {
  return {
    name: "respond",
    async run(ex: Exchange): Promise<Outcome> {
      const socket = ex.socket;
      if (socket.destroyed) return "next";
      if (ex.established) {
        // Past the 101 nothing can be said in HTTP any more.
        if (ex.answer !== undefined) socket.destroy();
        return "next";
      }
      if (ex.answer !== undefined) {
        endWithAnswer(ex);
        return "next";
      }
      const call = ex.upstream!;
      const headers = downstreamResponseHeaders(call.headers!, via);
      // The body is relayed de-chunked: Content-Length still holds when the origin sent one;
      // otherwise the body ends with the connection (RFC 9112 §6.3).
      headers.push("connection", "close");
      socket.write(rawHead(call.statusCode, headers), "latin1");
      socket.once("close", call.clientClosed);
      await call.attach(socketWriter(socket));
      socket.off("close", call.clientClosed);
      if (!socket.writableFinished) {
        ex.reason ??= call.error === undefined ? "client_aborted" : "upstream_failed";
        socket.destroy();
      }
      return "next";
    },
  };
}
