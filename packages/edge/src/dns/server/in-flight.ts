// Queries a datagram listener is still resolving: bounded (a client resending faster than
// upstreams answer must not grow memory; UDP clients retry, so dropping is the protocol's own
// back-pressure) and awaited, up to a grace period, when the listener closes: `close` is the
// close of both datagram listeners (node:dgram, the batch socket).

/** Queries being resolved at once per socket; beyond it new ones are dropped. */
export const MAX_IN_FLIGHT = 20_000;

export class InFlight {
  private n = 0;
  private idle: (() => void) | undefined;
  /** False once `close` began: queries that arrive now are ignored. */
  accepting = true;
  /** True once the socket is released: an answer finished now has nowhere to go. */
  released = false;

  /** Take a place for one query; false when the bound is reached (drop the query). */
  enter(): boolean {
    if (this.n >= MAX_IN_FLIGHT) return false;
    this.n++;
    return true;
  }

  /** Give the place back (the answer was sent or dropped). */
  readonly leave = (): void => {
    if (--this.n === 0) this.idle?.();
  };

  /**
   * Close the listener: stop accepting, wait up to `graceMs` for the answers in flight, then
   * `release` the socket. Only the first call does anything.
   */
  async close(graceMs: number, release: () => void | Promise<void>): Promise<void> {
    if (!this.accepting) return;
    this.accepting = false;
    await this.settle(graceMs);
    this.released = true;
    await release();
  }

  /** Resolve when nothing is in flight, or after `graceMs` at the latest. */
  private async settle(graceMs: number): Promise<void> {
    if (this.n === 0 || graceMs <= 0) return;
    await new Promise<void>((ok) => {
      const t = setTimeout(ok, graceMs);
      this.idle = () => {
        clearTimeout(t);
        ok();
      };
    });
  }
}
