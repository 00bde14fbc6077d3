// Load time and memory of a 1,000,000-domain blocklist in an edge snapshot.
// Run: node bench/dns/lists-memory.ts [count]
// Prints the time compileSnapshot takes with the list and the RSS it adds over the same edge
// without it. Each side is measured in its own fresh process (after GC), so garbage from
// generating the list file does not blur the difference.

import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConfigBundle } from "@gatehouse/contract";
import { compileSnapshot } from "../../packages/edge/src/snapshot.ts";

const gc = (globalThis as { gc?: () => void }).gc;

// Realistic names: 2-4 labels of 4-14 chars, three formats mixed like merged public lists.
function name(i: number): string {
  let x = (i * 2654435761) >>> 0;
  const labels: string[] = [];
  const n = 2 + (x % 3);
  for (let l = 0; l < n; l++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const len = 4 + (x % 11);
    let s = "";
    for (let k = 0; k < len; k++) {
      x = (x * 1103515245 + 12345) >>> 0;
      s += String.fromCharCode(97 + (x % 26));
    }
    labels.push(s);
  }
  return `${labels.join(".")}${i}.example`;
}
const base: ConfigBundle = {
  schemaVersion: 1,
  version: 1,
  resolver: { upstreams: [{ address: "udp://127.0.0.1:53" }] },
  locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
  lists: [],
  policies: [],
};

function measure(file: string | undefined): void {
  if (!gc) throw new Error("measure needs --expose-gc");
  const t0 = performance.now();
  const snap = compileSnapshot(
    file === undefined
      ? base
      : {
          ...base,
          lists: [{ id: "big", name: "big", type: "domain", file }],
          policies: [
            {
              id: "p",
              name: "p",
              type: "dns",
              enabled: true,
              precedence: 1,
              expression: "any(dns.domains[*] in $big)",
              action: "block",
            },
          ],
        },
  );
  const ms = performance.now() - t0;
  gc();
  gc();
  const set = snap.lists.domains("big");
  console.log(
    JSON.stringify({
      rss: process.memoryUsage().rss,
      ms,
      size: set?.size ?? 0,
      bytes: set?.byteLength ?? 0,
    }),
  );
}

if (process.argv[2] === "--measure") {
  measure(process.argv[3] === "none" ? undefined : process.argv[3]);
} else {
  const count = Number(process.argv[2] ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), "gh-bench-lists-"));
  const file = join(dir, "big.txt");
  const lines: string[] = ["# generated"];
  for (let i = 0; i < count; i++)
    lines.push(i % 3 === 0 ? `0.0.0.0 ${name(i)}` : i % 3 === 1 ? `||${name(i)}^` : name(i));
  writeFileSync(file, `${lines.join("\n")}\n`);
  const run = (arg: string) =>
    JSON.parse(
      execFileSync(
        process.execPath,
        ["--expose-gc", new URL(import.meta.url).pathname, "--measure", arg],
        { encoding: "utf8" },
      ),
    ) as {
      rss: number;
      ms: number;
      size: number;
      bytes: number;
    };
  const empty = run("none");
  const full = run(file);
  console.log(
    JSON.stringify({
      domains: full.size,
      loadMs: Math.round(full.ms - empty.ms),
      rssEmptyMB: Math.round(empty.rss / 104857.6) / 10,
      rssWithListMB: Math.round(full.rss / 104857.6) / 10,
      rssDeltaMB: Math.round((full.rss - empty.rss) / 104857.6) / 10,
      setBytesMB: Math.round(full.bytes / 104857.6) / 10,
      node: process.version,
    }),
  );
}
