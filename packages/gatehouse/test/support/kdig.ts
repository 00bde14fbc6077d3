// kdig (knot-dnsutils) for end-to-end tests of what Gatehouse tells devices to use: whether it
// is installed (the tests skip, saying why, when not) and a run that returns its whole output.
import { execFile, execFileSync } from "node:child_process";

/** True when `bin` is on the PATH. */
export function has(bin: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Why a kdig test is skipped, or false when kdig is there. */
export const KDIG_MISSING = has("kdig") ? false : "kdig not installed (knot-dnsutils)";

/** kdig with these arguments (3 s per try, one try): stdout and stderr together. */
export function kdig(args: readonly string[]): Promise<string> {
  return new Promise((res) => {
    execFile("kdig", ["+time=3", "+retry=0", ...args], { timeout: 15_000 }, (_e, out, err) =>
      res(`${out}${err}`),
    );
  });
}
