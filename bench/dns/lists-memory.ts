// Load time and memory of a 1,000,000-domain blocklist in an edge snapshot.
// Run: node bench/dns/lists-memory.ts [count] [plain|mixed] [file|items]
// Prints the time compileSnapshot takes with the list and the RSS it adds over the same edge
// without it. Each side is measured in its own fresh process (after GC), so garbage from
// generating the list file does not blur the difference. `mixed` makes about 8 % of the lines
// rules other than names (exceptions, wildcards, exact-only, modifiers, regexes, unsupported),
// shaped like merged published adblock lists; `items` hands the lines to the edge as a bundle's
// inline items, as a synced edge gets them, instead of a list file.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConfigBundle } from "@gatehouse/contract";
import { compileSnapshot } from "../../packages/edge/src/snapshot.ts";
import { mixedLine, name } from "./mixed-list.ts";

const gc = (globalThis as { gc?: () => void }).gc;

const base: ConfigBundle = {
  schemaVersion: 1,
  version: 1,
  resolver: { upstreams: [{ address: "udp://127.0.0.1:53" }] },
  locations: [{ id: "lo", name: "lo", networks: ["127.0.0.0/8"] }],
  lists: [],
  policies: [],
};

function measure(file: string | undefined, asItems: boolean): void {
  if (!gc) throw new Error("measure needs --expose-gc");
  const items = file && asItems ? readFileSync(file, "utf8").split("\n") : undefined;
  const list = items
    ? { id: "big", name: "big", type: "domain" as const, items }
    : { id: "big", name: "big", type: "domain" as const, file };
  const t0 = performance.now();
  const snap = compileSnapshot(
    file === undefined
      ? base
      : {
          ...base,
          lists: [list],
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
  if (items) items.length = 0;
  gc();
  gc();
  const set = snap.lists.domains("big");
  const stats = snap.lists.stats.find((x) => x.name === "big");
  console.log(
    JSON.stringify({
      rss: process.memoryUsage().rss,
      ms,
      size: set?.size ?? 0,
      rules: set?.ruleCount ?? 0,
      unsupported: stats?.unsupported ?? 0,
      rejected: stats?.rejected ?? 0,
      bytes: set?.byteLength ?? 0,
    }),
  );
}

if (process.argv[2] === "--measure") {
  measure(process.argv[3] === "none" ? undefined : process.argv[3], process.argv[4] === "items");
} else {
  const count = Number(process.argv[2] ?? 1_000_000);
  const mixed = process.argv[3] === "mixed";
  const source = process.argv[4] === "items" ? "items" : "file";
  const dir = mkdtempSync(join(tmpdir(), "gh-bench-lists-"));
  const file = join(dir, "big.txt");
  const lines: string[] = ["# generated"];
  for (let i = 0; i < count; i++)
    lines.push(
      mixed
        ? mixedLine(i)
        : i % 3 === 0
          ? `0.0.0.0 ${name(i)}`
          : i % 3 === 1
            ? `||${name(i)}^`
            : name(i),
    );
  writeFileSync(file, `${lines.join("\n")}\n`);
  const run = (arg: string) =>
    JSON.parse(
      execFileSync(
        process.execPath,
        ["--expose-gc", new URL(import.meta.url).pathname, "--measure", arg, source],
        { encoding: "utf8" },
      ),
    ) as {
      rss: number;
      ms: number;
      size: number;
      rules: number;
      unsupported: number;
      rejected: number;
      bytes: number;
    };
  const empty = run("none");
  const full = run(file);
  console.log(
    JSON.stringify({
      lines: count,
      mixed,
      source,
      entries: full.size,
      compiledRules: full.rules,
      unsupported: full.unsupported,
      rejected: full.rejected,
      loadMs: Math.round(full.ms - empty.ms),
      rssEmptyMB: Math.round(empty.rss / 104857.6) / 10,
      rssWithListMB: Math.round(full.rss / 104857.6) / 10,
      rssDeltaMB: Math.round((full.rss - empty.rss) / 104857.6) / 10,
      setBytesMB: Math.round(full.bytes / 104857.6) / 10,
      node: process.version,
    }),
  );
}
