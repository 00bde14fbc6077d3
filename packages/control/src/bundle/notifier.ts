// In-process fan-out of "account X published version V" to waiting long-polls. A waiter is one
// closure and one timer; nothing polls the database while edges wait.

export class VersionNotifier {
  readonly #waiters = new Map<string, Set<(version: number) => void>>();

  /**
   * Resolves with the new version when `accountId` publishes, or undefined after `timeoutMs`
   * or when `signal` aborts (the client went away).
   */
  wait(accountId: string, timeoutMs: number, signal?: AbortSignal): Promise<number | undefined> {
    return new Promise((resolve) => {
      let set = this.#waiters.get(accountId);
      if (!set) {
        set = new Set();
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
      waiters.add(wake);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  publish(accountId: string, version: number): void {
    const set = this.#waiters.get(accountId);
    if (!set) return;
    for (const wake of [...set]) wake(version);
  }

  /** Wake everyone with "no news" (shutdown). */
  closeAll(): void {
    for (const set of this.#waiters.values()) for (const wake of [...set]) wake(Number.NaN);
  }

  waiting(accountId?: string): number {
    if (accountId !== undefined) return this.#waiters.get(accountId)?.size ?? 0;
    let n = 0;
    for (const s of this.#waiters.values()) n += s.size;
    return n;
  }
}
