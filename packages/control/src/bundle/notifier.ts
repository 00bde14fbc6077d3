// In-process fan-out of "account X published version V" to waiting long-polls. A waiter is one
// closure and one timer; nothing polls the database while edges wait.

export class VersionNotifier {
  /** Per account: each waiter's wake function and the edge it waits for (if it said). */
  readonly #waiters = new Map<string, Map<(version: number) => void, string | undefined>>();

  /**
   * Resolves with the new version when `accountId` publishes (or, for a waiter that names its
   * `edgeId`, when that edge's pin changes), or undefined after `timeoutMs` or when `signal`
   * aborts (the client went away).
   */
  wait(
    accountId: string,
    timeoutMs: number,
    signal?: AbortSignal,
    edgeId?: string,
  ): Promise<number | undefined> {
    return new Promise((resolve) => {
      let set = this.#waiters.get(accountId);
      if (!set) {
        set = new Map();
        this.#waiters.set(accountId, set);
      }
      const waiters = set;
      const done = (v: number | undefined): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        waiters.delete(wake);
        if (waiters.size === 0 && this.#waiters.get(accountId) === waiters)
          this.#waiters.delete(accountId);
        resolve(v);
      };
      const wake = (v: number): void => done(v);
      const onAbort = (): void => done(undefined);
      const timer = setTimeout(() => done(undefined), timeoutMs);
      waiters.set(wake, edgeId);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  publish(accountId: string, version: number): void {
    const set = this.#waiters.get(accountId);
    if (!set) return;
    for (const wake of [...set.keys()]) wake(version);
  }

  /** Wake only the polls of one edge (its pin changed); `version` is what it should run now. */
  wakeEdge(accountId: string, edgeId: string, version: number): void {
    const set = this.#waiters.get(accountId);
    if (!set) return;
    for (const [wake, id] of [...set]) if (id === edgeId) wake(version);
  }

  /** Wake everyone with "no news" (shutdown). */
  closeAll(): void {
    for (const set of this.#waiters.values()) for (const wake of [...set.keys()]) wake(Number.NaN);
  }

  waiting(accountId?: string): number {
    if (accountId !== undefined) return this.#waiters.get(accountId)?.size ?? 0;
    let n = 0;
    for (const s of this.#waiters.values()) n += s.size;
    return n;
  }
}
