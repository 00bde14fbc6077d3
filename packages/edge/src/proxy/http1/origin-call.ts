// One request to an origin, as the proxy's stages see it: `head` settles when the final response
// head is in (forward awaits it), then `attach` relays the body into the client's response with
// backpressure (pause the origin socket while the client's buffer is full). Body bytes that
// arrive before the client is attached (usually the whole of a small response, read with its
// head) are kept, so such a response goes out with its head in one write. An upgrade that the
// origin accepts ends with its socket instead of a body (`upgraded`).

import type { Socket } from "node:net";
import { EdgeError } from "@gatehouse/contract/errors";
import type { Waiter } from "../exchange.ts";
import type { OriginRequest } from "./origin-pool.ts";

/**
 * What carries one request to the origin: an HTTP/1.1 connection of the pool (origin-pool.ts)
 * or a stream of an h2 session (h2/origin-session.ts).
 */
export interface OriginLink {
  send(req: OriginRequest, call: OriginCall): void;
  /** The client can take more of the response body. */
  resume(): void;
  /** Give up on the exchange in progress. */
  abort(): void;
  /** TLS to the origin: its certificate's verdict ("valid" or why not); plain: undefined. */
  readonly certVerdict: string | undefined;
}

/** Where the response body goes: a ClientResponse, or a raw socket (socketWriter). */
export interface BodyWriter {
  /** False when the writer's buffer is full: wait for onDrain. */
  write(chunk: Buffer): boolean;
  onDrain(fn: () => void): void;
  /** `last` is the final data, if any; `onFinish` runs once everything is written. */
  end(last?: Buffer, onFinish?: () => void): void;
  destroy(err?: Error): void;
  readonly writableFinished: boolean;
}

const ABORTED = new EdgeError("client_aborted", "the client went away");
const IGNORE = (): void => {};
const RESOLVED = Promise.resolve();

export class OriginCall {
  statusCode = 0;
  /** The origin's response fields, flat [name, value, …] as received. */
  headers: string[] | undefined;
  /** Content-Length of the response body, -1 when unknown (chunked, until close). */
  bodyLength = -1;
  /** The response has no body (HEAD, 204, 304). */
  noBody = false;
  error: Error | undefined;
  /** After a 101 to an upgrade request: the origin's socket and the bytes read after the head. */
  upgradedSocket: Socket | undefined;
  upgradeHead: Buffer | undefined;
  /** Sent again once after a kept-alive connection turned out closed. */
  retried = false;
  #conn: OriginLink | undefined;
  /** A connection is open and this call's (connect-origin is done). */
  #connected = false;
  /** Woken once the call has a connection, or will have none (waitConnected). */
  #connectWaiter: Waiter | undefined;
  #sink: BodyWriter | undefined;
  #early: Buffer[] | undefined;
  #ended = false;
  #headIn = false;
  /**
   * The head and done promises are made when first asked for (forward awaits the head, respond
   * the body): an exchange that ends before either is asked makes neither, and a head that fails
   * with nobody waiting is no unhandled rejection.
   */
  #head: Promise<void> | undefined;
  #headFailure: Error | undefined;
  #resolveHead: (() => void) | undefined;
  #rejectHead: ((e: Error) => void) | undefined;
  #done: Promise<void> | undefined;
  #isDone = false;
  #resolveDone: (() => void) | undefined;
  /** Woken instead of a promise (the pipeline's forward and respond stages): see waitHead. */
  #headWaiter: Waiter | undefined;
  #doneWaiter: Waiter | undefined;
  readonly #finish = () => this.#settleDone(true);
  #waiting = false;
  /** Made on the first backpressure (most responses never wait for the client). */
  #resumeFn: (() => void) | undefined;
  get #resume(): () => void {
    this.#resumeFn ??= () => {
      this.#waiting = false;
      this.#conn?.resume();
    };
    return this.#resumeFn;
  }

  /** Settles when the final response head is in (rejects when there will be none). */
  get head(): Promise<void> {
    if (this.#head === undefined) {
      if (this.#headIn) this.#head = RESOLVED;
      else if (this.#headFailure !== undefined) {
        this.#head = Promise.reject(this.#headFailure);
        this.#head.catch(IGNORE);
      } else {
        this.#head = new Promise<void>((resolve, reject) => {
          this.#resolveHead = resolve;
          this.#rejectHead = reject;
        });
        // A head that fails after nobody awaits it any more must not be an unhandled rejection.
        this.#head.catch(IGNORE);
      }
    }
    return this.#head;
  }

  /** Settles once the body has been relayed, or failed, or the client went away. */
  get done(): Promise<void> {
    if (this.#done === undefined) {
      this.#done = this.#isDone
        ? RESOLVED
        : new Promise<void>((resolve) => {
            this.#resolveDone = resolve;
          });
    }
    return this.#done;
  }

  /**
   * `head` without a promise: false when the head is in or failed already (see headFailure);
   * otherwise `w` is woken once either happens.
   */
  waitHead(w: Waiter): boolean {
    if (this.#headIn || this.#headFailure !== undefined) return false;
    this.#headWaiter = w;
    return true;
  }

  /** Why there is no response head (what `head` rejects with), once that is known. */
  get headFailure(): Error | undefined {
    return this.#headFailure;
  }

  #settleHead(): void {
    if (this.#headFailure !== undefined) return; // settled already: the first outcome stands
    this.#headIn = true;
    const resolve = this.#resolveHead;
    this.#resolveHead = undefined;
    this.#rejectHead = undefined;
    resolve?.();
    const w = this.#headWaiter;
    this.#headWaiter = undefined;
    w?.wake();
  }

  #failHead(err: Error): void {
    this.#headFailure = err;
    const reject = this.#rejectHead;
    this.#resolveHead = undefined;
    this.#rejectHead = undefined;
    reject?.(err);
    const w = this.#headWaiter;
    this.#headWaiter = undefined;
    w?.wake();
  }

  /** `written`: from the write's completion callback, where the waiter may go on at once. */
  #settleDone(written = false): void {
    if (this.#isDone) return;
    this.#isDone = true;
    const resolve = this.#resolveDone;
    this.#resolveDone = undefined;
    resolve?.();
    const w = this.#doneWaiter;
    this.#doneWaiter = undefined;
    if (written) w?.resumeNow();
    else w?.wake();
  }

  /** Listener for the client going away: abort the origin request. */
  readonly clientClosed = () => {
    if (!this.#ended) this.abort();
    this.#settleDone();
  };

  // --- from the pool (origin-pool.ts) ---

  /** Answered, failed or abandoned: a request still waiting for a connection is not sent. */
  get over(): boolean {
    return this.#ended;
  }

  /** The origin certificate's verdict on the connection carrying this call (TLS only). */
  get certVerdict(): string | undefined {
    return this.#conn?.certVerdict;
  }

  bind(conn: OriginLink): void {
    this.#conn = conn;
  }

  /** The connection is open and this call's to use (connect-origin may go on). */
  connected(conn: OriginLink): void {
    this.#conn = conn;
    this.#connected = true;
    const w = this.#connectWaiter;
    this.#connectWaiter = undefined;
    w?.wake();
  }

  responseHead(status: number, headers: string[], bodyLength: number, noBody: boolean): void {
    this.statusCode = status;
    this.headers = headers;
    this.bodyLength = bodyLength;
    this.noBody = noBody;
    this.#settleHead();
  }

  data(chunk: Buffer): boolean {
    const sink = this.#sink;
    if (sink === undefined) {
      this.#early ??= [];
      this.#early.push(chunk);
      return true;
    }
    if (sink.write(chunk)) return true;
    if (!this.#waiting) {
      this.#waiting = true;
      sink.onDrain(this.#resume);
    }
    return false;
  }

  ended(): void {
    this.#ended = true;
    if (this.#sink !== undefined) this.#sink.end(undefined, this.#finish);
  }

  failed(err: Error): void {
    if (this.#ended) return;
    this.error = err;
    this.#ended = true;
    this.#failConnect();
    if (!this.#headIn) this.#failHead(err);
    else if (this.#sink !== undefined && !this.#sink.writableFinished) this.#sink.destroy(err);
    this.#settleDone();
  }

  upgraded(status: number, headers: string[], socket: Socket, head: Buffer): void {
    this.statusCode = status;
    this.headers = headers;
    this.upgradedSocket = socket;
    this.upgradeHead = head;
    this.#ended = true;
    // The pool let go of the socket: an error before the relay takes over must not be unhandled.
    socket.on("error", () => socket.destroy());
    this.#settleHead();
    this.#settleDone();
  }

  // --- from the stages ---

  /**
   * False once a connection is this call's, or once it is known there will be none (see
   * connectFailure); otherwise `w` (connect-origin's exchange) is woken once either happens.
   * No promise: most requests of a busy client wait here for a connection of its share.
   */
  waitConnected(w: Waiter): boolean {
    if (this.#connected || this.#ended) return false;
    this.#connectWaiter = w;
    return true;
  }

  /** Why the call got no connection (undefined: it has one, or is still waiting for one). */
  get connectFailure(): Error | undefined {
    return this.#connected || !this.#ended ? undefined : (this.error ?? ABORTED);
  }

  /** The connection connect-origin got (forward sends on it). */
  get connection(): OriginLink | undefined {
    return this.#connected ? this.#conn : undefined;
  }

  /** The call is over before it got a connection: connectFailure says why. */
  #failConnect(): void {
    const w = this.#connectWaiter;
    this.#connectWaiter = undefined;
    w?.wake();
  }

  /**
   * Relay the body into `sink` (its head is written by the caller or goes with the data);
   * settles as `done` does.
   */
  attach(sink: BodyWriter): Promise<void> {
    this.#attach(sink);
    return this.done;
  }

  /** `attach` without a promise: false when done already, otherwise `w` is woken once it is. */
  relay(sink: BodyWriter, w: Waiter): boolean {
    this.#attach(sink);
    if (this.#isDone) return false;
    this.#doneWaiter = w;
    return true;
  }

  #attach(sink: BodyWriter): void {
    this.#sink = sink;
    const early = this.#early;
    this.#early = undefined;
    if (this.#ended) {
      if (this.error !== undefined) sink.destroy(this.error);
      else if (early === undefined) sink.end(undefined, this.#finish);
      else if (early.length === 1) sink.end(early[0], this.#finish);
      else sink.end(Buffer.concat(early), this.#finish);
      return;
    }
    if (early !== undefined) {
      let ok = true;
      for (const c of early) ok = sink.write(c);
      if (!ok) {
        this.#waiting = true;
        sink.onDrain(this.#resume);
        return;
      }
    }
    this.#conn?.resume();
  }

  /** Give up on the response (blocked by policy-response, or the client left). */
  abort(): void {
    this.upgradedSocket?.destroy();
    if (this.#ended) return;
    this.#ended = true;
    this.#conn?.abort();
    // connect-origin or forward may still wait: they learn the exchange is off.
    this.#failConnect();
    if (!this.#headIn) this.#failHead(ABORTED);
    this.#settleDone();
  }
}

/** A raw socket as a BodyWriter (upgrade requests answered without switching). */
export function socketWriter(socket: Socket): BodyWriter {
  return {
    write: (chunk) => socket.write(chunk),
    onDrain: (fn) => socket.once("drain", fn),
    end: (last, onFinish) => {
      if (last === undefined) socket.end(onFinish);
      else socket.end(last, onFinish);
    },
    destroy: () => socket.destroy(),
    get writableFinished() {
      return socket.writableFinished;
    },
  };
}
