// One DNS exchange with one upstream over UDP, TCP, TLS (RFC 7858) or HTTPS (RFC 8484).
// Anti-spoofing (RFC 5452): a UDP query goes out with a random ID on one of a few sockets
// connected to the upstream, each on an OS-chosen (randomised) source port and retired after a
// few hundred queries (udp-ports.ts); a reply is accepted only from the upstream's address and
// port, with our ID, QR set and the same question (case included when 0x20 is on); anything
// else is ignored and the wait goes on until the timeout — except a reply that differs from the
// question only in letter case, which ends the exchange with reason "case" (the upstream does
// not echo 0x20; the pool then asks it in plain case). A UDP query without an answer is sent
// again (RFC 1035 §4.2.1, §7.2) after 400 ms, then after doubling intervals, within the
// upstream's timeout. A UDP reply with TC set is retried over TCP (RFC 7766 §5). DoT and DoH verify the upstream's certificate against the system roots or the
// upstream's own `ca` (tls-trust.ts); DoH reuses keep-alive connections through a per-upstream
// agent.

import type { ClientRequest, IncomingMessage } from "node:http";
import type { Agent as HttpsAgent } from "node:https";
import { connect as netConnect, type Socket } from "node:net";
import type { SecureContext, TLSSocket } from "node:tls";
import type { EdgeErrorKind } from "@gatehouse/contract";
import { EdgeError } from "@gatehouse/contract/errors";
import { nth } from "../../indexed.ts";
import { u8, u16 } from "../../net/bytes.ts";
import { https, tls } from "../../net/node-tls.ts";
import { readQuestion } from "../wire/query.ts";
import type { DotSession } from "./dot-session.ts";
import { udpPortsOf } from "./udp-ports.ts";

export type UpstreamProtocol = "udp" | "tcp" | "tls" | "https";

export interface UpstreamTarget {
  readonly protocol: UpstreamProtocol;
  /** As configured, for logs. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** DoH: the full URL. */
  readonly url?: string;
  /** DoH: the URL's path and query, as sent. */
  readonly path?: string;
  readonly serverName?: string;
  readonly timeoutMs: number;
  /** DoT/DoH: trust anchors from the upstream's `ca`; absent = the system roots. */
  readonly secureContext?: SecureContext;
  /** DoH: keep-alive connections to this upstream, shared by its queries. */
  readonly agent?: HttpsAgent;
  /** DoT: the kept-open connection its queries share (dot-session.ts). */
  readonly dot?: DotSession;
}

/** The DNS upstream failure kinds of the edge's error catalogue (`EDGE_ERRORS`). */
type UpstreamErrorKind = Extract<EdgeErrorKind, `upstream_${string}`>;

/** A DNS upstream's failure: an upstream edge error; the pool sets `where` to the upstream. */
export function upstreamError(
  kind: UpstreamErrorKind,
  message: string,
  options?: { cause?: unknown },
): EdgeError {
  return new EdgeError(kind, message, options);
}

/** The low-cardinality label of an upstream failure in gatehouse_dns_upstream_errors_total. */
export function upstreamErrorLabel(e: unknown): string {
  return e instanceof EdgeError && e.kind.startsWith("upstream_") ? e.kind.slice(9) : "network";
}

export interface ExpectedQuestion {
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly class: number;
  /** Compare names exactly (0x20) instead of case-insensitively. */
  readonly exactCase: boolean;
}

/** True when `reply` answers `q` (RFC 5452 §4.3). */
export function matchesQuestion(reply: Uint8Array, q: ExpectedQuestion): boolean {
  if (reply.length < 12) return false;
  if (u16(reply, 0) !== q.id) return false;
  if ((u8(reply, 2) & 0x80) === 0) return false;
  const rq = readQuestion(reply);
  if (!rq) return false;
  if (rq.type !== q.type || rq.class !== q.class) return false;
  return q.exactCase ? rq.name === q.name : rq.name.toLowerCase() === q.name.toLowerCase();
}

/**
 * True when `reply` answers `query` (the bytes we sent, with the ID `q.id`) by its bytes alone:
 * our ID, QR set, one question, and the question's octets equal to ours (exactly when 0x20 is
 * on, else with ASCII letters folded) — what an upstream echoing the question writes, without
 * building the name's text. False also when only the string comparison of matchesQuestion can
 * tell (a compressed question name, a letter case other than ASCII): ask it then.
 */
export function sameQuestion(reply: Uint8Array, query: Uint8Array, q: ExpectedQuestion): boolean {
  if (reply.length < 12 || u16(reply, 0) !== q.id || (u8(reply, 2) & 0x80) === 0) return false;
  if (u16(reply, 4) !== 1) return false;
  // The question's end in our query (its name is uncompressed: we wrote it).
  let end = 12;
  for (;;) {
    if (end >= query.length) return false;
    const len = u8(query, end);
    if (len === 0 || len > 63) break;
    end += len + 1;
  }
  if (u8(query, end) !== 0) return false;
  end += 5;
  if (end > reply.length || end > query.length) return false;
  if (q.exactCase) {
    for (let i = 12; i < end; i++) if (u8(reply, i) !== u8(query, i)) return false;
    return true;
  }
  for (let i = 12; i < end; i++) {
    let a = u8(reply, i);
    let b = u8(query, i);
    if (a >= 0x41 && a <= 0x5a) a |= 0x20;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (a !== b) return false;
  }
  return true;
}

/**
 * True when `reply` would answer `q` but for the letter case of the name (0x20 is on and the
 * upstream did not echo it). Only called for replies `matchesQuestion` refused.
 */
export function caseOnlyMismatch(reply: Uint8Array, q: ExpectedQuestion): boolean {
  return q.exactCase && matchesQuestion(reply, { ...q, exactCase: false });
}

export function caseError(t: UpstreamTarget): EdgeError {
  return upstreamError(
    "upstream_case",
    `${t.address}: answer does not echo the question's letter case`,
  );
}

/**
 * The one settlement of an exchange: the first of answer, error, timeout (the upstream's
 * `timeoutMs`) or abort wins; the timer and listener are removed and the socket released.
 */
export function settleOnce(
  t: UpstreamTarget,
  signal: AbortSignal | undefined,
  release: () => void,
  resolve: (msg: Buffer) => void,
  reject: (err: Error) => void,
): (outcome: Error | Buffer) => void {
  let done = false;
  const finish = (outcome: Error | Buffer) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    release();
    if (outcome instanceof Error) reject(outcome);
    else resolve(outcome);
  };
  const onAbort = () => finish(upstreamError("upstream_timeout", "aborted"));
  const timer = setTimeout(
    () => finish(upstreamError("upstream_timeout", `${t.address}: no answer in ${t.timeoutMs} ms`)),
    t.timeoutMs,
  );
  signal?.addEventListener("abort", onAbort, { once: true });
  return finish;
}

/** A reply with TC set (RFC 1035 §4.1.1): asked again over TCP. */
export function truncated(r: Buffer): boolean {
  return r.length >= 12 && (u8(r, 2) & 0x02) !== 0;
}

export function udpExchange(
  t: UpstreamTarget,
  query: Uint8Array,
  q: ExpectedQuestion,
  signal?: AbortSignal,
): Promise<Buffer> {
  return udpPortsOf(t).exchange(query, q, signal);
}

/**
 * upstream_tls when the TLS handshake failed (certificate not trusted, name mismatch, expired …), so a
 * misconfigured trust shows apart from an unreachable upstream; upstream_network otherwise.
 */
function socketErrorKind(e: Error): "upstream_tls" | "upstream_network" {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  return TLS_VERIFY_CODES.has(code) || code.startsWith("ERR_TLS_") || code.startsWith("ERR_SSL_")
    ? "upstream_tls"
    : "upstream_network";
}

/** OpenSSL verification results as node:tls reports them. */
const TLS_VERIFY_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "INVALID_CA",
  "HOSTNAME_MISMATCH",
]);

export function upstreamSocketError(t: UpstreamTarget, e: Error): EdgeError {
  return upstreamError(socketErrorKind(e), `${t.address}: ${e.message}`, { cause: e });
}

/** Length-prefixed exchange on a stream socket (RFC 1035 §4.2.2, RFC 7766 §8). */
function streamExchange(
  connect: () => Socket,
  t: UpstreamTarget,
  query: Uint8Array,
  q: ExpectedQuestion,
  signal?: AbortSignal,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect();
    let buf: Buffer = Buffer.alloc(0);
    const finish = settleOnce(t, signal, () => sock.destroy(), resolve, reject);
    sock.on("error", (e) => finish(upstreamSocketError(t, e)));
    sock.on("close", () =>
      finish(
        upstreamError("upstream_network", `${t.address}: connection closed before the answer`),
      ),
    );
    sock.on("data", (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) return;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        if (matchesQuestion(msg, q)) return finish(Buffer.from(msg));
        if (caseOnlyMismatch(msg, q)) return finish(caseError(t));
      }
    });
    const framed = Buffer.allocUnsafe(2 + query.length);
    framed.writeUInt16BE(query.length, 0);
    framed.set(query, 2);
    sock.write(framed);
  });
}

export function tcpExchange(
  t: UpstreamTarget,
  query: Uint8Array,
  q: ExpectedQuestion,
  signal?: AbortSignal,
): Promise<Buffer> {
  return streamExchange(() => netConnect({ host: t.host, port: t.port }), t, query, q, signal);
}

/** A TLS connection to a DoT upstream, verified as RFC 7858 §3.2 / RFC 8310 ask. */
export function tlsConnectFor(t: UpstreamTarget): TLSSocket {
  return tls().connect({
    host: t.host,
    port: t.port,
    // Authenticate the server by name when one is known (else by its IP address).
    servername: t.serverName ?? (isIpLiteral(t.host) ? undefined : t.host),
    ALPNProtocols: ["dot"],
    ...(t.secureContext ? { secureContext: t.secureContext } : {}),
  });
}

/** On the upstream's shared connection when it has one, else on a connection of its own. */
export function tlsExchange(
  t: UpstreamTarget,
  query: Uint8Array,
  q: ExpectedQuestion,
  signal?: AbortSignal,
): Promise<Buffer> {
  return (
    t.dot?.exchange(query, q, signal) ?? streamExchange(() => tlsConnectFor(t), t, query, q, signal)
  );
}

function isIpLiteral(h: string): boolean {
  return /^[0-9.]+$/.test(h) || h.includes(":");
}

/** The largest DNS message (RFC 1035 §4.2.2 framing, RFC 8484 §6). */
const MAX_DNS_MESSAGE = 65_535;

/**
 * RFC 8484 §4.1: POST the wire message as application/dns-message, on the upstream's keep-alive
 * agent (HTTP/1.1; TLS verified as for DoT). A kept-alive connection the server closed just as
 * it was reused fails before any answer: that request is sent once more on a new connection.
 */
function httpsExchange(
  t: UpstreamTarget,
  query: Uint8Array,
  q: ExpectedQuestion,
  signal?: AbortSignal,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let retried = false;
    let req: ClientRequest;
    // A failed or abandoned exchange closes its connection; an answered one leaves it to the agent.
    const release = () => {
      if (!answered) req.destroy();
    };
    const finish = settleOnce(t, signal, release, resolve, reject);
    const send = () => {
      let responded = false;
      req = https().request({
        host: t.host,
        port: t.port,
        path: t.path ?? "/dns-query",
        method: "POST",
        headers: {
          "content-type": "application/dns-message",
          accept: "application/dns-message",
          "content-length": query.length,
        },
        ...(t.agent ? { agent: t.agent } : {}),
        ...(t.serverName ? { servername: t.serverName } : {}),
        ...(t.secureContext ? { secureContext: t.secureContext } : {}),
      });
      const sent = req;
      sent.on("error", (e: NodeJS.ErrnoException) => {
        if (!responded && !retried && sent.reusedSocket && STALE_SOCKET.has(e.code ?? "")) {
          retried = true;
          return send();
        }
        finish(upstreamSocketError(t, e));
      });
      sent.on("response", (res: IncomingMessage) => {
        responded = true;
        if (res.statusCode !== 200) {
          res.resume();
          return finish(upstreamError("upstream_http", `${t.address}: HTTP ${res.statusCode}`));
        }
        const chunks: Buffer[] = [];
        let length = 0;
        res.on("data", (c: Buffer) => {
          length += c.length;
          if (length > MAX_DNS_MESSAGE)
            finish(
              upstreamError("upstream_malformed", `${t.address}: answer longer than 65535 bytes`),
            );
          else chunks.push(c);
        });
        res.on("error", (e) => finish(upstreamSocketError(t, e)));
        res.on("end", () => {
          const body = chunks.length === 1 ? nth(chunks, 0) : Buffer.concat(chunks);
          if (caseOnlyMismatch(body, q)) return finish(caseError(t));
          if (!matchesQuestion(body, q))
            return finish(
              upstreamError(
                "upstream_mismatch",
                `${t.address}: answer does not match the question`,
              ),
            );
          answered = true;
          finish(body);
        });
      });
      sent.end(query);
    };
    send();
  });
}

/** How a reused keep-alive connection that the server had already closed fails. */
const STALE_SOCKET = new Set(["ECONNRESET", "EPIPE"]);

/** Exchange over the target's protocol; UDP falls back to TCP when the reply is truncated. */
export async function exchange(
  t: UpstreamTarget,
  query: Uint8Array,
  q: ExpectedQuestion,
  signal?: AbortSignal,
): Promise<Buffer> {
  switch (t.protocol) {
    case "udp": {
      const r = await udpExchange(t, query, q, signal);
      return truncated(r) ? tcpExchange(t, query, q, signal) : r;
    }
    case "tcp":
      return tcpExchange(t, query, q, signal);
    case "tls":
      return tlsExchange(t, query, q, signal);
    case "https":
      return httpsExchange(t, query, q, signal);
  }
}
