// Long config work (compiling a bundle with millions of list items, hashing it, writing it to
// disk) written once as a generator that yields at safe points, then run either to completion
// (runSync: start-up, tests) or in slices that give the event loop back every few milliseconds
// (runSliced: a bundle applied while the edge answers), so answering never waits for it.

/** Work that yields (undefined) wherever it may be paused, and returns T. */
export type Steps<T> = Generator<void, T, void>;

/** Run `steps` to completion without pausing. */
export function runSync<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** How long one slice may run before the event loop gets a turn. */
export const SLICE_MS = 8;

/**
 * Run `steps`, yielding to the event loop (setImmediate: I/O callbacks run first) whenever a
 * slice has run `sliceMs`. Steps should yield often (every ~1 ms of work); only the clock is
 * read at each, so fine-grained yields cost little.
 */
export async function runSliced<T>(steps: Steps<T>, sliceMs = SLICE_MS): Promise<T> {
  let start = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (performance.now() - start >= sliceMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      start = performance.now();
    }
  }
}
