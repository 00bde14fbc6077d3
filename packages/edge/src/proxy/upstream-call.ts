// One request to an origin, driven through undici's dispatch API instead of its stream
// wrappers: the response body goes straight from undici's parser into the client's
// ServerResponse, with backpressure (pause the upstream socket when the client's buffer is
// full, resume on drain), and without a Readable, an AbortController or extra promises per
// request. The head is awaited by forward; respond attaches the client and lets data flow.
// An upgrade request (WebSocket) that the origin accepts ends with the origin's socket instead
// of a body: `upgraded`, handed over by undici once the 101 head is parsed.

import type { IncomingHttpHeaders } from "node:http";
import type { Socket } from "node:net";
import type { Writable } from "node:stream";
import type { Dispatcher } from "undici";

type Controller = Dispatcher.DispatchController;

const ABORTED = Object.assign(new Error("client went away"), { code: "UND_ERR_ABORTED" });

export class UpstreamCall implements Dispatcher.DispatchHandler {
  statusCode = 0;
  headers: IncomingHttpHeaders | undefined;
  /** Set once the response head is in. */
  readonly head: Promise<void>;
  /** Settles when the body has been relayed, or failed. */
  readonly done: Promise<void>;
  error: Error | undefined;
  /** The origin's socket after a 101 to an upgrade request; the caller owns it from then on. */
  upgraded: Socket | undefined;
  #controller: Controller | undefined;
  #sink: Writable | undefined;
  /** Body bytes that arrived before respond attached the client (at most one socket read). */
  #early: Buffer[] | undefined;
  #ended = false;
  #headIn = false;
  #resolveHead!: () => void;
  #rejectHead!: (e: Error) => void;
  #resolveDone!: () => void;
  readonly #resume = () => this.#controller?.resume();
  readonly #finish = () => this.#resolveDone();
  /** Listener for the client response's "close": a client that leaves aborts the origin request. */
  readonly clientClosed = () => {
    if (!this.#ended) this.abort();
    this.#resolveDone(); // the response will never finish now
  };

  constructor() {
    this.head = new Promise<void>((resolve, reject) => {
      this.#resolveHead = resolve;
      this.#rejectHead = reject;
    });
    this.done = new Promise<void>((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller;
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: IncomingHttpHeaders): void {
    // 1xx interim responses (RFC 9110 §15.2) are not relayed: we answered 100 ourselves.
    if (statusCode < 200) return;
    this.statusCode = statusCode;
    this.headers = headers;
    this.#headIn = true;
    // Not paused: until respond attaches the client (a few microtasks away, no I/O between),
    // at most the rest of this socket read is kept aside, and a small response is then
    // usually complete, so it goes out with its head in a single end().
    this.#resolveHead();
  }

  onRequestUpgrade(
    _controller: Controller,
    statusCode: number,
    headers: IncomingHttpHeaders,
    socket: Socket,
  ): void {
    this.statusCode = statusCode;
    this.headers = headers;
    this.upgraded = socket;
    this.#headIn = true;
    this.#ended = true;
    // undici let go of the socket (and its listeners): an error before the relay takes over
    // must not be unhandled.
    socket.on("error", () => socket.destroy());
    this.#resolveHead();
    this.#resolveDone();
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    const sink = this.#sink;
    if (sink === undefined) {
      this.#early ??= [];
      this.#early.push(chunk);
      return;
    }
    if (!sink.write(chunk)) {
      controller.pause();
      sink.once("drain", this.#resume);
    }
  }

  onResponseEnd(): void {
    this.#ended = true;
    // Done once the client's response is flushed (so byte counts are final); without a client
    // attached yet, attach() finishes it.
    if (this.#sink !== undefined) this.#sink.end(this.#finish);
  }

  onResponseError(_controller: Controller, err: Error): void {
    this.error = err;
    this.#ended = true;
    if (!this.#headIn) this.#rejectHead(err);
    else if (this.#sink !== undefined && !this.#sink.writableFinished) this.#sink.destroy(err);
    this.#resolveDone();
  }

  /** Start relaying the body into `res` (after its head was written). */
  attach(res: Writable): Promise<void> {
    this.#sink = res;
    const early = this.#early;
    this.#early = undefined;
    if (early !== undefined) {
      if (early.length === 1 && this.#ended && this.error === undefined) {
        res.end(early[0], this.#finish);
        return this.done;
      }
      for (const c of early) res.write(c);
    }
    if (this.#ended) {
      if (this.error === undefined) res.end(this.#finish);
      else res.destroy(this.error);
    } else this.#controller?.resume();
    return this.done;
  }

  /** Give up on the response (blocked by policy-response, or the client left). */
  abort(): void {
    this.upgraded?.destroy();
    if (this.#ended) return;
    this.#ended = true;
    this.#controller?.abort(ABORTED);
    this.#resolveDone();
  }
}
