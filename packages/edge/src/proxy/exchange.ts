// The exchange: one object per proxied request or tunnel, created on arrival. It pins the
// config snapshot taken at arrival (a reload never changes rules mid-request) and carries what
// the stages learn. Stages write fields; nothing else is allocated per stage.

import type { Socket } from "node:net";
import type { EdgeErrorReason, Location, LogAction } from "@gatehouse/contract";
import { EdgeError } from "@gatehouse/contract/errors";
import type { IdentityView, MatchedPolicy, ProxySnapshot } from "./edge-view.ts";
import type { ClientRequest, ClientResponse } from "./http1/message.ts";
import type { OriginCall } from "./http1/origin-call.ts";

/** What a stage decides: go on, answer now (`ex.answer` says how), or drop the connection. */
export type Outcome = "next" | "respond" | "drop";

/**
 * A stage that waits without a promise: it has handed the exchange (its `wake`) to whatever it
 * waits for, which wakes it once; the pipeline then calls the stage's `resume` for its outcome.
 */
export const WAIT = "wait";

/** What a stage's `run` gives: its outcome now, later (a promise), or WAIT. */
export type Step = Outcome | Promise<Outcome> | typeof WAIT;

/** Something a stage waits on without a promise (an origin call's head or body): woken once. */
export interface Waiter {
  /** Resume in a microtask (never inside the caller). */
  wake(): void;
  /** Resume now: for a caller that is itself a callback of its own (a write's completion). */
  resumeNow(): void;
}

/** What runs an exchange (pipeline.ts): resumes the stage it waits in once woken. */
export interface Resumer {
  wake(ex: Exchange): void;
  resume(ex: Exchange): void;
}

/**
 * Low-cardinality reason codes: metric labels and the query log's `reason`. The proxy's own
 * decisions (refusals, blocks, answers it gives itself), and the reasons of failures, which come
 * from the edge's error catalogue (`EDGE_ERRORS`, turned into answers by fail.ts).
 */
export type ReasonCode =
  | "policy"
  | "unknown_client"
  | "auth_required"
  | "auth_failed"
  | "auth_rate_limited"
  | "bad_request"
  | "bad_target"
  | "port_not_allowed"
  | "url_too_long"
  | "headers_too_large"
  | "loop_detected"
  | "private_target"
  | "dns_blocked"
  | "sni_blocked"
  | "no_client_hello"
  | "max_forwards"
  | EdgeErrorReason
  | "tls_handshake_failed";

/** An answer the proxy gives itself instead of an origin's response. */
export interface Answer {
  status: number;
  /** Undefined for an answer that reports nothing (the PAC file). */
  reason: ReasonCode | undefined;
  /** Human detail for the page body (never a metric label). */
  detail: string;
  /** Sent as Retry-After (RFC 9110 §10.2.3), e.g. with a 429. */
  retryAfterSeconds?: number;
  /** Sent as `Cache-Control: max-age` (the PAC file); otherwise answers are `no-store`. */
  maxAgeSeconds?: number;
  /** Content of an answer that is not an error page (a TRACE echo, the PAC file). */
  content?: { readonly type: string | undefined; readonly body: Buffer };
}

/**
 * The decrypted side of an inspected CONNECT: what every request read from it inherits. The
 * tunnel's authority (checked by its network policies) is the only host its requests may name.
 */
export interface Inspection {
  readonly host: string;
  readonly hostFamily: 0 | 4 | 6;
  readonly port: number;
  readonly sni: string | undefined;
  readonly location: Location | undefined;
  readonly identity: IdentityView | undefined;
  readonly principal: string | undefined;
  /** Negotiated with the client: "TLSv1.3", … */
  tlsVersion: string;
  /** ALPN protocol agreed with the client, or "" (none offered). */
  alpn: string;
}

export interface Exchange extends Waiter {
  readonly id: string;
  /** Wall-clock arrival, ms since epoch (the log's `ts`). */
  readonly ts: number;
  /** Monotonic arrival, for durations. */
  readonly t0: number;
  readonly snapshot: ProxySnapshot;
  readonly transport: "http" | "connect";
  readonly req: ClientRequest;
  /** Present for ordinary requests; CONNECT and upgrades hand over the raw socket instead. */
  readonly res: ClientResponse | undefined;
  readonly socket: Socket;
  readonly clientIp: string;
  readonly clientPort: number;

  // parse-target
  method: string;
  /** Lowercase host name or IP literal (no brackets). */
  host: string;
  /** 0 for a name, 4 or 6 for an IP literal. */
  hostFamily: 0 | 4 | 6;
  port: number;
  /** Path without query ("/" at least); empty for CONNECT. */
  path: string;
  /** Query string without "?", or "". */
  query: string;

  // identify
  location: Location | undefined;
  identity: IdentityView | undefined;
  /** Basic user that authenticated (email or device name), for the log. */
  principal: string | undefined;

  // policy
  policy: MatchedPolicy | undefined;
  action: LogAction;
  /** The internal addresses the deciding allow policy opted in to
   * (`settings.allowPrivateDestinations`); undefined: the private-address guard stays whole. */
  privateAllowed: MatchedPolicy["privateDestinations"];
  /** resolve-peer pinned an internal address under that opt-in. */
  peerPrivate: boolean;

  // resolve-peer / connect
  peerIp: string;
  peerFamily: 0 | 4 | 6;
  upstreamSocket: Socket | undefined;
  /** Pool key for plain HTTP: `<checked ip>:<port>` (IPv6 in brackets). */
  origin: string;
  /** Header list for the origin (upstream-request). */
  upstreamHeaders: string[] | undefined;
  /** The client sent `Expect: 100-continue` and waits for our 100 before its body. */
  expectContinue: boolean;
  /** TRACE/OPTIONS: the Max-Forwards value to send on (max-forwards.ts), -1 to leave it. */
  maxForwards: number;

  // tunnel
  sni: string | undefined;
  /** Bytes read from the client before the tunnel was spliced (the ClientHello). */
  firstFlight: Buffer | undefined;
  /** The first flight parsed as a TLS ClientHello (with or without an SNI). */
  tlsHello: boolean;
  /** Set on a CONNECT that was inspected, and on each request read from its decrypted side. */
  inspection: Inspection | undefined;
  /** Inspected requests: the origin certificate's verdict ("valid" or why not). */
  originCert: string | undefined;

  // response
  status: number;
  answer: Answer | undefined;
  reason: ReasonCode | undefined;
  /** The failure fail.ts answered, in full (operational log only). */
  error: EdgeError | undefined;
  bytesUp: number;
  bytesDown: number;
  /** Bytes the kernel relayed past the client socket (a spliced upgrade): its counters never
   * saw them. */
  splicedUp: number;
  splicedDown: number;
  /** CONNECT: the 200 went out, so answers can no longer be HTTP responses. */
  established: boolean;
  /** The origin request, once its response head arrived (forward). */
  upstream: OriginCall | undefined;
  /** The origin request from connect-origin on (its connection), before any answer. */
  originCall: OriginCall | undefined;

  // the pipeline run (pipeline.ts)
  /** The pipeline running this exchange, which `wake` resumes. */
  resumer: Resumer | undefined;
  /** Where it waits: a stage's index, or the respond stage (negative). */
  step: number;
  /** Called once the exchange is recorded (the pipeline's `run` promise). */
  onDone: (() => void) | undefined;
}

/** `ex.wake()`: one function for every exchange (no closure per exchange). */
function wakeExchange(this: Exchange): void {
  this.resumer?.wake(this);
}

function resumeExchange(this: Exchange): void {
  this.resumer?.resume(this);
}

let seq = 0;
const prefix = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;

/** A per-edge unique id, cheap to make: pid + start time + counter. */
export function nextRequestId(): string {
  seq = (seq + 1) >>> 0;
  return `${prefix}-${seq.toString(36)}`;
}

export function newExchange(
  snapshot: ProxySnapshot,
  transport: "http" | "connect",
  req: ClientRequest,
  res: ClientResponse | undefined,
  socket: Socket,
): Exchange {
  return {
    id: nextRequestId(),
    ts: Date.now(),
    t0: performance.now(),
    snapshot,
    transport,
    req,
    res,
    socket,
    clientIp: stripV4Mapped(socket.remoteAddress ?? ""),
    clientPort: socket.remotePort ?? 0,
    method: req.method,
    host: "",
    hostFamily: 0,
    port: 0,
    path: "",
    query: "",
    location: undefined,
    identity: undefined,
    principal: undefined,
    policy: undefined,
    action: "allow",
    privateAllowed: undefined,
    peerPrivate: false,
    peerIp: "",
    peerFamily: 0,
    upstreamSocket: undefined,
    origin: "",
    upstreamHeaders: undefined,
    expectContinue: false,
    maxForwards: -1,
    sni: undefined,
    firstFlight: undefined,
    tlsHello: false,
    inspection: undefined,
    originCert: undefined,
    status: 0,
    answer: undefined,
    reason: undefined,
    error: undefined,
    bytesUp: 0,
    bytesDown: 0,
    splicedUp: 0,
    splicedDown: 0,
    established: false,
    upstream: undefined,
    originCall: undefined,
    resumer: undefined,
    step: 0,
    onDone: undefined,
    wake: wakeExchange,
    resumeNow: resumeExchange,
  };
}

/** Dual-stack listeners report IPv4 clients as ::ffff:a.b.c.d; policies see them as IPv4. */
export function stripV4Mapped(ip: string): string {
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}

/** Set an answer and say so: `return answer(ex, 403, "policy", "…")` in a stage. */
export function answer(ex: Exchange, status: number, reason: ReasonCode, detail: string): Outcome {
  ex.answer = { status, reason, detail };
  ex.reason = reason;
  return "respond";
}

/** One step of a pipeline. Factories build it at startup; `run` only reads config. */
export interface Stage {
  readonly name: string;
  run(ex: Exchange): Step;
  /** After `run` gave WAIT and the exchange was woken: the stage's outcome (or a throw). */
  resume?(ex: Exchange): Outcome;
}

/**
 * What an earlier stage of the pipeline always sets (the origin call, the response head): its
 * absence is a bug, failed as `internal` (fail.ts answers 500) instead of read as undefined.
 */
export function required<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new EdgeError("internal", `${what} is missing`);
  return v;
}

/** Throw away the origin's response (the client gets another answer). */
export function discardUpstream(ex: Exchange): void {
  ex.originCall?.abort();
  ex.upstream = undefined;
}

/** Bytes of each keep-alive client socket already attributed to earlier exchanges. */
const accounted = new WeakMap<Socket, { read: number; written: number }>();

/**
 * Attribute the client socket's wire bytes since the previous exchange on it to this one, and
 * what the kernel relayed past it.
 */
export function accountSocketBytes(ex: Exchange): void {
  const s = ex.socket;
  let a = accounted.get(s);
  if (a === undefined) {
    a = { read: 0, written: 0 };
    accounted.set(s, a);
  }
  ex.bytesUp = s.bytesRead - a.read + ex.splicedUp;
  ex.bytesDown = s.bytesWritten - a.written + ex.splicedDown;
  a.read = s.bytesRead;
  a.written = s.bytesWritten;
}
