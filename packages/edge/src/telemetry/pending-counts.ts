// Hot-path counters. prom-client's `inc` hashes the label values on every call; a query or a
// request here only adds to a plain number, and the numbers reach their prom-client children
// when the metric is collected (a scrape, a worker's report, `get()`): give the metric
// `collect: counts.flush`.

/** A label set's count not yet handed to its prom-client child. */
export class PendingCount {
  n = 0;
  readonly child: { inc(value: number): void };
  constructor(child: { inc(value: number): void }) {
    this.child = child;
  }
}

export class PendingCounts {
  private readonly all: PendingCount[] = [];
  private readonly byKey = new Map<string, PendingCount>();

  /** A new count feeding `child` (resolve it once, then bump `n`). */
  add(child: { inc(value: number): void }): PendingCount {
    const c = new PendingCount(child);
    this.all.push(c);
    return c;
  }

  /** The count for `key`, feeding the child `make` returns the first time `key` is seen. */
  keyed(key: string, make: () => { inc(value: number): void }): PendingCount {
    let c = this.byKey.get(key);
    if (c === undefined) {
      c = this.add(make());
      this.byKey.set(key, c);
    }
    return c;
  }

  /** Hand every pending count to its child. */
  readonly flush = (): void => {
    for (const c of this.all)
      if (c.n !== 0) {
        c.child.inc(c.n);
        c.n = 0;
      }
  };
}
