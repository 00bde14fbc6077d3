// Periodic retention: the store removes records by age and size on a timer. One run at a
// time (a slow run is never overlapped by the next tick); failures are reported, never thrown
// into the event loop.

import {
  type AnalyticsStore,
  DEFAULT_RETENTION,
  type RetentionPolicy,
  type RetentionResult,
} from "./types.ts";

interface RetentionScheduleOptions {
  policy?: RetentionPolicy;
  /** Default: hourly. */
  intervalMs?: number;
  onResult?: (r: RetentionResult) => void;
  onError?: (e: unknown) => void;
}

/** Runs retention now and then every `intervalMs`; returns a function that stops it. */
export function scheduleRetention(
  store: AnalyticsStore,
  opts: RetentionScheduleOptions = {},
): () => Promise<void> {
  const policy = opts.policy ?? DEFAULT_RETENTION;
  let running: Promise<void> | undefined;
  let stopped = false;
  const tick = () => {
    if (running !== undefined || stopped) return;
    running = store
      .applyRetention(policy)
      .then(
        (r) => opts.onResult?.(r),
        (e) => opts.onError?.(e),
      )
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, opts.intervalMs ?? 3_600_000);
  timer.unref();
  tick();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
