// A node --test reporter that finds where the suite's time goes: per test file, the wall time
// from its process's start (start-stamp.ts, loaded with --import, says when) to its last event,
// the sum of its top-level tests' durations, and its failures; JSON, slowest first, at the end.
//
//   node --import ./bench/tests/start-stamp.ts --test --test-concurrency=2 \
//     --test-reporter=./bench/tests/file-times.ts --test-reporter-destination=times.json \
//     --test-reporter=dot --test-reporter-destination=stdout "packages/*/src/**/*.test.ts" ...

interface FileTimes {
  file: string;
  start: number | undefined;
  first: number;
  last: number;
  top: number;
  tests: number;
  failed: string[];
}

interface TestEvent {
  type: string;
  data?: {
    file?: string;
    nesting?: number;
    name?: string;
    message?: string;
    details?: { duration_ms?: number; type?: string; error?: { message?: string } };
  };
}

export default async function* fileTimes(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const files = new Map<string, FileTimes>();
  const t0 = Date.now();
  for await (const ev of source) {
    const d = ev.data;
    if (d?.file === undefined) continue;
    const now = Date.now();
    let e = files.get(d.file);
    if (e === undefined) {
      e = { file: d.file, start: undefined, first: now, last: now, top: 0, tests: 0, failed: [] };
      files.set(d.file, e);
    }
    e.last = now;
    const stamp = ev.type === "test:stderr" ? /#gh-start (\d+)/.exec(d.message ?? "") : null;
    if (stamp?.[1] !== undefined) e.start = Number(stamp[1]);
    if (ev.type !== "test:pass" && ev.type !== "test:fail") continue;
    if (d.nesting === 0) e.top += d.details?.duration_ms ?? 0;
    if (d.details?.type !== undefined) continue;
    e.tests++;
    if (ev.type === "test:fail")
      e.failed.push(`${d.name}: ${(d.details?.error?.message ?? "").slice(0, 300)}`);
  }
  const rows = [...files.values()]
    .map((e) => ({ ...e, wall: e.last - (e.start ?? e.first) }))
    .sort((a, b) => b.wall - a.wall);
  yield `${JSON.stringify({ total_ms: Date.now() - t0, files: rows }, null, 1)}\n`;
}
