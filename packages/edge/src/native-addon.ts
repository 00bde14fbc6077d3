// Loading the edge's native addons (packages/edge/native/*.c, built at install by
// native/build.ts into native/build/NAME.node). build.ts writes beside each addon the SHA-256 of
// the C source it was built from (build/NAME.sha256). An addon whose stamp is missing or differs
// from the source beside it was built from other sources — a checkout updated without running
// the build again — and is not loaded: it may lack a function the TypeScript calls, or read its
// arguments otherwise (an edge on such an addon answered no query at all). A warning says how to
// rebuild it, and the edge runs on the addon's fallback (node:dgram, the JavaScript relay, no
// malloc_trim), as when no C compiler built it. Where the C source is not there to compare with,
// the addon is loaded as it is.

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";

/** The addons' directory (its `build/` holds what native/build.ts made). */
export const NATIVE_DIR = new URL("../native/", import.meta.url);

/** The stamp native/build.ts writes for an addon built from `source`. */
export function sourceStamp(source: Uint8Array): string {
  return createHash("sha256").update(source).digest("hex");
}

/**
 * The addon NAME, or undefined when it is not built, cannot load, or was built from other
 * sources than `dir`'s NAME.c (then with a warning naming `fallback`, what serves instead).
 */
export function loadNativeAddon<T>(
  name: string,
  fallback: string,
  dir = NATIVE_DIR,
): T | undefined {
  const addon = new URL(`build/${name}.node`, dir);
  if (!existsSync(addon)) return undefined;
  const source = new URL(`${name}.c`, dir);
  if (existsSync(source)) {
    const stamp = new URL(`build/${name}.sha256`, dir);
    let built = "";
    let expected = "?";
    try {
      built = existsSync(stamp) ? readFileSync(stamp, "utf8").trim() : "";
      expected = sourceStamp(readFileSync(source));
    } catch {
      // Unreadable (permissions): not known to match, so not loaded (the warning below).
    }
    if (built !== expected) {
      process.emitWarning(
        `${name}.node was built from other sources than ${name}.c (run \`node packages/edge/native/build.ts\` or \`npm install\`); not loaded: ${fallback}`,
        { code: "GATEHOUSE_NATIVE_STALE" },
      );
      return undefined;
    }
  }
  try {
    return createRequire(import.meta.url)(addon.pathname) as T;
  } catch {
    return undefined;
  }
}
