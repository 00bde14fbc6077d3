// An addon is loaded only when it was built from the C source beside it (edge/src/native-addon.ts):
// a checkout updated without rebuilding once ran an edge on an addon that lacked a function the
// TypeScript called, and it answered no query at all.

import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { loadNativeAddon, NATIVE_DIR, sourceStamp } from "../src/native-addon.ts";

const built = new URL("build/malloc_trim.node", NATIVE_DIR);
const builtExists = existsSync(built);

/** A native directory with `x.c` holding `source` and, when `stamp` is given, build/x.node and its stamp. */
function nativeDir(source: string, stamp: string | undefined): URL {
  const dir = mkdtempSync(join(tmpdir(), "gh-native-"));
  mkdirSync(join(dir, "build"));
  writeFileSync(join(dir, "x.c"), source);
  copyFileSync(built, join(dir, "build", "x.node"));
  if (stamp !== undefined) writeFileSync(join(dir, "build", "x.sha256"), `${stamp}\n`);
  return pathToFileURL(`${dir}/`);
}

async function warningsDuring(f: () => void): Promise<Error[]> {
  const seen: Error[] = [];
  const on = (w: Error) => seen.push(w);
  process.on("warning", on);
  try {
    f();
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off("warning", on);
  }
  return seen;
}

const skip = builtExists ? false : "native/build/malloc_trim.node is not built (no C compiler)";

test("an addon stamped with its source's hash loads", { skip }, async () => {
  const dir = nativeDir("int x;\n", sourceStamp(Buffer.from("int x;\n")));
  const warnings = await warningsDuring(() => {
    const lib = loadNativeAddon<{ trim: unknown }>("x", "fallback", dir);
    assert.equal(typeof lib?.trim, "function");
  });
  assert.deepEqual(warnings, []);
});

test("an addon built from other sources, or with no stamp, is not loaded and a warning says why", {
  skip,
}, async () => {
  for (const stamp of [sourceStamp(Buffer.from("int y;\n")), undefined]) {
    const dir = nativeDir("int x;\n", stamp);
    const warnings = await warningsDuring(() => {
      assert.equal(loadNativeAddon("x", "the slow way serves", dir), undefined);
    });
    assert.equal(warnings.length, 1);
    assert.equal((warnings[0] as Error & { code?: string }).code, "GATEHOUSE_NATIVE_STALE");
    assert.match(
      String(warnings[0]?.message),
      /x\.node was built from other sources than x\.c.*the slow way serves/,
    );
  }
});

test("an addon that is not built is undefined without a warning", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gh-native-"));
  writeFileSync(join(dir, "x.c"), "int x;\n");
  const warnings = await warningsDuring(() => {
    assert.equal(loadNativeAddon("x", "fallback", pathToFileURL(`${dir}/`)), undefined);
  });
  assert.deepEqual(warnings, []);
});

test("the addons this checkout built carry the stamps of the sources beside them", { skip }, () => {
  for (const name of ["udp_batch", "tunnel_splice", "malloc_trim"]) {
    assert.ok(
      loadNativeAddon(name, "fallback"),
      `${name} loads (run node packages/edge/native/build.ts)`,
    );
  }
});
