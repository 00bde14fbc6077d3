// DNS over a stream (TCP RFC 7766, TLS RFC 7858): two-octet length-prefixed messages, pipelined —
// several queries may be in flight on one connection and answers go out as they complete, in
// any order (RFC 7766 §6.2.1.1). Limits: in-flight queries per connection (reading pauses at the
// limit), an idle timeout reset by traffic (RFC 7766 §6.2.3), and a message shorter than a
// header closes the connection (no ID to answer with).

import type { Socket } from "node:net";
import type { DnsService } from "../dns-service.ts";
import type { DnsTransport } from "../exchange.ts";

export interface StreamLimits {
  readonly idleTimeoutMs: number;
  readonly maxInFlight: number;
}

export const STREAM_DEFAULTS: StreamLimits = { idleTimeoutMs: 10_000, maxInFlight: 32 };

export function serveStream(
  service: DnsService,
  sock: Socket,
  transport: DnsTransport,
  limits: StreamLimits,
  serverName?: string,
  onIdle?: () => void,
): { readonly inFlight: () => number } {
  let buf: Buffer = Buffer.alloc(0);
  let inFlight = 0;
  let closed = false;
  const ip = sock.remoteAddress ?? "";
  const port = sock.remotePort ?? 0;
  sock.setNoDelay(true);
  sock.setTimeout(limits.idleTimeoutMs, () => {
    // Only idle when nothing is being answered.
    if (inFlight === 0) sock.end();
  });
  sock.on("error", () => sock.destroy());
  sock.on("close", () => {
    closed = true;
  });

  const drain = () => {
    while (buf.length >= 2 && inFlight < limits.maxInFlight) {
      const len = buf.readUInt16BE(0);
      if (len < 12) {
        sock.destroy();
        return;
      }
      if (buf.length < 2 + len) return;
      const msg = Buffer.from(buf.subarray(2, 2 + len));
      buf = buf.subarray(2 + len);
      if (transport !== "doh") {
        const fast = service.tryFast(
          msg,
          ip,
          transport === "dot" ? "dot" : "tcp",
          transport === "dot" ? serverName : undefined,
        );
        if (fast) {
          const framed = Buffer.allocUnsafe(2 + fast.length);
          framed.writeUInt16BE(fast.length, 0);
          fast.copy(framed, 2);
          sock.write(framed);
          continue;
        }
      }
      inFlight++;
      service
        .handle(msg, { transport, ip, port, ...(serverName ? { serverName } : {}) })
        .then((out) => {
          if (out && !closed && sock.writable) {
            const framed = Buffer.allocUnsafe(2 + out.length);
            framed.writeUInt16BE(out.length, 0);
            out.copy(framed, 2);
            sock.write(framed);
          }
        })
        .finally(() => {
          inFlight--;
          if (sock.isPaused() && !closed) sock.resume();
          drain();
          if (inFlight === 0) onIdle?.();
        });
    }
    if (inFlight >= limits.maxInFlight) sock.pause();
  };

  sock.on("data", (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    // A client may not hold more than one maximal message unread.
    if (buf.length > 2 * 65537) {
      sock.destroy();
      return;
    }
    drain();
  });
  return { inFlight: () => inFlight };
}
