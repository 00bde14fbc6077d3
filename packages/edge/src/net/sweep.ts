// Deadlines for many connections, checked by one interval instead of a timer per request: each
// connection keeps a performance-clock deadline (0: none) that the hot path only overwrites,
// and the sweep calls `timeout()` on those past it. The granularity is a quarter of the
// shortest limit (10 ms to 1 s), so a limit is enforced within 25 % of its value.

export interface Deadlined {
  deadline: number;
  timeout(): void;
}

export class Sweep<T extends Deadlined> {
  readonly items = new Set<T>();
  readonly #timer: NodeJS.Timeout;

  constructor(shortestLimitMs: number) {
    const every = Math.max(10, Math.min(1000, Math.floor(shortestLimitMs / 4)));
    this.#timer = setInterval(() => this.#check(), every);
    this.#timer.unref();
  }

  #check(): void {
    const now = performance.now();
    for (const c of this.items) if (c.deadline !== 0 && now >= c.deadline) c.timeout();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** The four listeners a connection object keeps on its socket, attached and removed together. */
export interface SocketListeners {
  readonly data: (chunk: Buffer) => void;
  readonly end: () => void;
  readonly error: (err: Error) => void;
  readonly close: () => void;
}

export function listen(s: import("node:net").Socket, l: SocketListeners): void {
  s.on("data", l.data);
  s.on("end", l.end);
  s.on("error", l.error);
  s.on("close", l.close);
}

/** Hand the socket to someone else: our listeners off, reading paused. */
export function unlisten(s: import("node:net").Socket, l: SocketListeners): void {
  s.off("data", l.data);
  s.off("end", l.end);
  s.off("error", l.error);
  s.off("close", l.close);
  s.pause();
}

/**
 * A socket no connection object watches any more (handed over, then answered or relayed): once
 * its exchange is over it is destroyed after `ms` unless it closed by then (`onCut` says it was
 * cut). One timer per such socket; plain requests use their connection's sweep deadline.
 */
export function cutAfter(s: import("node:net").Socket, ms: number, onCut: () => void): void {
  if (s.destroyed) return;
  const t = setTimeout(() => {
    if (s.destroyed) return;
    s.destroy();
    onCut();
  }, ms);
  t.unref();
  s.once("close", () => clearTimeout(t));
}
