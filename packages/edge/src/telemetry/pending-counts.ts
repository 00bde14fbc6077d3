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

/** What a prom-client Histogram keeps per label set (its `hashMap`'s values; prom-client 15). */
interface HistogramValues {
  labels: Record<string, string>;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

/** The part of a prom-client Histogram a pending histogram adds into. */
interface HistogramInternals {
  hashMap: Record<string, HistogramValues>;
  upperBounds: readonly number[];
  zero(labels: Record<string, string>): void;
}

/**
 * One label set's observations of a histogram not yet handed to prom-client. prom-client's
 * `observe` makes a closure, checks and hashes the labels and scans the bounds on every call; here
 * an observation adds to its bucket's count in a typed array, and `flush` adds the counts, sum and
 * count to the histogram's values for that label set when the metric is collected.
 */
export class PendingHistogram {
  private readonly histogram: HistogramInternals;
  private readonly labels: Record<string, string>;
  private readonly bounds: Float64Array;
  /** Observations per bucket (the last: above every bound, counted in `count` only). */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(histogram: object, labels: Record<string, string>) {
    this.histogram = histogram as HistogramInternals;
    this.labels = labels;
    this.bounds = Float64Array.from(this.histogram.upperBounds);
    this.counts = new Float64Array(this.bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    const n = b.length;
    let i = 0;
    // prom-client's bucket: the first bound the value is not above.
    while (i < n && value > (b[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }

  /** Add what was observed since the last flush to the histogram. */
  flush(): void {
    if (this.count === 0) return;
    const h = this.histogram;
    let v = this.values();
    if (v === undefined) {
      h.zero(this.labels);
      v = this.values();
      if (v === undefined) return;
    }
    const b = this.bounds;
    const counts = this.counts;
    for (let i = 0; i < b.length; i++) {
      const c = counts[i] as number;
      if (c === 0) continue;
      const key = String(b[i]);
      v.bucketValues[key] = (v.bucketValues[key] ?? 0) + c;
    }
    v.sum += this.sum;
    v.count += this.count;
    counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  /** The histogram's values for this label set (by the label values), if it has them. */
  private values(): HistogramValues | undefined {
    const mine = this.labels;
    const names = Object.keys(mine);
    for (const v of Object.values(this.histogram.hashMap)) {
      let same = Object.keys(v.labels).length === names.length;
      for (const k of names) if (v.labels[k] !== mine[k]) same = false;
      if (same) return v;
    }
    return undefined;
  }
}

/** Pending histograms flushed together (give each histogram `collect: flush`). */
export class PendingHistograms {
  private readonly all: PendingHistogram[] = [];

  /** A new pending histogram feeding `histogram`'s label set `labels` (resolve it once). */
  add(histogram: object, labels: Record<string, string>): PendingHistogram {
    const p = new PendingHistogram(histogram, labels);
    this.all.push(p);
    return p;
  }

  /**
   * The pending histograms of `histogram()` (called once, at the first observation) by the value
   * of its one label, `name`: each label set's made once.
   */
  byLabel(histogram: () => object, name: string): (value: string) => PendingHistogram {
    const byValue = new Map<string, PendingHistogram>();
    return (value) => {
      let p = byValue.get(value);
      if (p === undefined) {
        p = this.add(histogram(), { [name]: value });
        byValue.set(value, p);
      }
      return p;
    };
  }

  readonly flush = (): void => {
    for (const p of this.all) p.flush();
  };
}
