// DNS over a stream (TCP RFC 7766, TLS RFC 7858): two-octet length-prefixed messages, pipelined —
// several queries may be in flight on one connection and answers go out as they complete, in
// any order (RFC 7766 §6.2.1.1).
//
// Everything a connection holds is bounded, whatever the client does:
// - queries being resolved: at most `maxInFlight`; at the limit reading stops;
// - answers queued toward the client and not yet taken by the kernel: reading stops when
//   `maxQueuedBytes` are queued and resumes when the queue has drained; answers already being
//   resolved may still be queued on top, but an answer that would take the queue past
//   `maxQueuedBytes` + one maximal message closes the connection instead, and so does a queue
//   that does not drain within `drainTimeoutMs` (a client that sends and never reads);
// - unread input: at most two maximal messages (reading is paused, so the kernel holds the rest);
// - time: an idle timeout reset by traffic either way (RFC 7766 §6.2.3), and a message must
//   arrive whole within `messageTimeoutMs` of its first byte while the edge is reading (a client
//   that drips a byte at a time is closed as `slow`: the idle timer alone restarts on every
//   byte); the deadline is checked by the listener's shared sweep, not a timer per message;
//   after the edge ends a
//   connection (idle, client half-closed, listener closing) the socket is destroyed when the
//   client has not closed its side within `closeGraceMs`, so a connection that only looks
//   closed cannot keep its slot.
// A client that half-closes after its queries (`nc -q`, RFC 7766 §6.2.4 allows it) still gets
// every answer; the edge closes its side after the last one. A message shorter than a header
// closes the connection (no ID to answer with).

import type { Socket } from "node:net";
import type { Deadlined, Sweep } from "../../net/sweep.ts";
import type { DnsService } from "../dns-service.ts";

export interface StreamLimits {
  /** No traffic either way for this long: the connection is ended. */
  readonly idleTimeoutMs: number;
  /** Queries being resolved at once per connection. */
  readonly maxInFlight: number;
  /** Answer bytes queued toward the client at which reading stops. */
  readonly maxQueuedBytes: number;
  /** A queue that reached `maxQueuedBytes` must drain within this, or the connection is closed. */
  readonly drainTimeoutMs: number;
  /** After the edge ends a connection, the client has this long to close it before it is destroyed. */
  readonly closeGraceMs: number;
  /** A message (length prefix and body) must arrive whole within this of its first byte. */
  readonly messageTimeoutMs: number;
}

export const STREAM_DEFAULTS: StreamLimits = {
  idleTimeoutMs: 10_000,
  maxInFlight: 32,
  maxQueuedBytes: 65_536,
  drainTimeoutMs: 10_000,
  closeGraceMs: 2_000,
  messageTimeoutMs: 5_000,
};

/** A length prefix and the largest DNS message. */
export const MAX_FRAME = 2 + 65_535;

/**
 * Why the edge closed a connection (a metrics label). `slow`: a TCP/DoT message not whole within
 * `messageTimeoutMs` of its first byte, a DoT handshake not done within the idle timeout, or a
 * DoH request body that did not arrive within the idle timeout.
 */
export type StreamCloseReason = "idle" | "backpressure" | "linger" | "malformed" | "slow";

export interface StreamHooks {
  /** DoT: the TLS server name the client asked for (location by label). */
  readonly serverName?: string;
  /** The edge closed the connection, for this reason. */
  readonly onClose?: (reason: StreamCloseReason) => void;
  /** The listener's sweep that enforces `messageTimeoutMs` (without it, no message deadline). */
  readonly sweep?: Sweep<Deadlined>;
}

export interface StreamConnection {
  /** Queries being resolved now. */
  readonly inFlight: () => number;
  /** Answer bytes queued toward the client now. */
  readonly queuedBytes: () => number;
  /** The most answer bytes ever queued at once on this connection. */
  readonly peakQueuedBytes: () => number;
  /** End when nothing is in flight (now, or after the last answer); destroyed after the grace. */
  shutdown(): void;
}

const EMPTY = Buffer.alloc(0);

export function serveStream(
  service: DnsService,
  sock: Socket,
  transport: "tcp" | "dot",
  limits: StreamLimits,
  hooks: StreamHooks = {},
): StreamConnection {
  const { serverName, onClose, sweep } = hooks;
  let buf: Buffer = EMPTY;
  let inFlight = 0;
  let closed = false;
  /** The edge has ended its side (end() called). */
  let ending = false;
  /** End once nothing is in flight (listener closing). */
  let shuttingDown = false;
  /** The client has half-closed: answer what it sent, then end. */
  let readEnded = false;
  let peak = 0;
  let drainTimer: NodeJS.Timeout | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  // Reading stops at the soft bound; the kernel-facing queue also needs to be past the socket's
  // high-water mark for 'drain' to be emitted when it empties.
  const softBound = Math.max(limits.maxQueuedBytes, sock.writableHighWaterMark);
  const hardBound = softBound + MAX_FRAME;
  const ip = sock.remoteAddress ?? "";
  const port = sock.remotePort ?? 0;
  const client = { transport, ip, port, ...(serverName ? { serverName } : {}) };

  /** Let go of everything the connection holds (it is closed or about to be). */
  const release = () => {
    closed = true;
    buf = EMPTY;
    clearTimeout(drainTimer);
    clearTimeout(graceTimer);
    sweep?.items.delete(message);
  };

  const abort = (reason: StreamCloseReason) => {
    if (closed) return;
    release();
    onClose?.(reason);
    sock.destroy();
  };

  /**
   * The deadline of the message being read (performance clock; 0: none): set when a partial
   * message is buffered while the edge reads, cleared when a message is taken or reading pauses
   * (the kernel then holds the rest: not the client's delay).
   */
  const message: Deadlined = { deadline: 0, timeout: () => abort("slow") };
  sweep?.items.add(message);

  const end = () => {
    if (ending || closed) return;
    ending = true;
    sock.end();
    graceTimer = setTimeout(() => abort("linger"), limits.closeGraceMs);
  };

  const onDrain = () => {
    clearTimeout(drainTimer);
    drainTimer = undefined;
    pump();
  };

  const write = (out: Buffer) => {
    if (closed || ending) return;
    if (sock.writableLength + 2 + out.length > hardBound) {
      abort("backpressure");
      return;
    }
    const framed = Buffer.allocUnsafe(2 + out.length);
    framed.writeUInt16BE(out.length, 0);
    out.copy(framed, 2);
    sock.write(framed);
    const queued = sock.writableLength;
    if (queued > peak) peak = queued;
    if (queued >= softBound && drainTimer === undefined) {
      drainTimer = setTimeout(() => abort("backpressure"), limits.drainTimeoutMs);
      sock.once("drain", onDrain);
    }
  };

  /**
   * The rest of a multi-message answer (AXFR): one message at a time, waiting for the queue to
   * drain whenever it reaches the soft bound, so a large zone never sits encoded in memory. The
   * query stays in flight until the last message is queued; a client that stops reading is cut
   * off by the drain timeout like any other.
   */
  const writeMore = async (more: Iterator<Buffer>) => {
    for (;;) {
      if (closed || ending) return;
      if (drainTimer !== undefined)
        await new Promise<void>((resolve) => {
          const done = () => {
            sock.off("drain", done);
            sock.off("close", done);
            resolve();
          };
          sock.on("drain", done);
          sock.on("close", done);
        });
      if (closed || ending) return;
      const next = more.next();
      if (next.done) return;
      write(next.value);
    }
  };

  const blocked = () =>
    closed || ending || shuttingDown || drainTimer !== undefined || inFlight >= limits.maxInFlight;

  const settled = () => {
    inFlight--;
    pump();
  };

  const completeMessageBuffered = () => buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0);

  /** Answer the complete messages buffered, as far as the bounds allow; then read or pause. */
  const pump = () => {
    while (!blocked() && buf.length >= 2) {
      const len = buf.readUInt16BE(0);
      if (len < 12) {
        abort("malformed");
        return;
      }
      if (buf.length < 2 + len) break;
      const msg = Buffer.from(buf.subarray(2, 2 + len));
      buf = buf.length === 2 + len ? EMPTY : buf.subarray(2 + len);
      message.deadline = 0;
      const fast = service.tryFast(msg, ip, transport, serverName);
      if (fast) {
        write(fast);
        continue;
      }
      inFlight++;
      service
        .handleStream(msg, client)
        .then(async ({ out, more }) => {
          if (out) write(out);
          if (more) await writeMore(more);
        })
        // A transfer message that cannot be encoded: the rest of the zone cannot follow.
        .catch(() => sock.destroy())
        .finally(settled);
    }
    if (closed || ending) return;
    // Half-closed by the client: end after the last answer has been taken.
    const answered = readEnded && drainTimer === undefined && !completeMessageBuffered();
    if (inFlight === 0 && (shuttingDown || answered)) {
      end();
      return;
    }
    if (blocked()) {
      sock.pause();
      message.deadline = 0;
    } else if (readEnded) {
      // The rest of a partial message cannot come: the answers owed end the connection.
      message.deadline = 0;
    } else {
      sock.resume();
      // Not blocked and something left: the first message is partial.
      if (buf.length > 0 && message.deadline === 0 && sweep)
        message.deadline = performance.now() + limits.messageTimeoutMs;
    }
  };

  sock.setNoDelay(true);
  sock.setTimeout(limits.idleTimeoutMs, () => {
    if (closed || ending) return;
    // Silence while answers wait for the client to read them: it is not reading.
    if (drainTimer !== undefined) abort("backpressure");
    // Still resolving (upstreams are slow, and bounded in time): look again later.
    else if (inFlight > 0) sock.setTimeout(limits.idleTimeoutMs);
    else {
      onClose?.("idle");
      end();
    }
  });
  sock.on("error", () => sock.destroy());
  sock.on("close", release);
  sock.on("end", () => {
    readEnded = true;
    pump();
  });
  sock.on("data", (chunk: Buffer) => {
    if (closed || ending) return;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    // Reading pauses while answers are owed, so more than this unread is not a DNS client.
    if (buf.length > 2 * MAX_FRAME) {
      abort("malformed");
      return;
    }
    pump();
  });

  return {
    inFlight: () => inFlight,
    queuedBytes: () => (closed ? 0 : sock.writableLength),
    peakQueuedBytes: () => peak,
    shutdown() {
      shuttingDown = true;
      pump();
    },
  };
}
