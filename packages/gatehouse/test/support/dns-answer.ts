import { isDeepStrictEqual } from "node:util";
import { queryDns } from "./processes.ts";

/**
 * The A answers for `name` from the edge, polled until they are `expected` (a publish takes a
 * moment to reach the edge) or 10 s pass; the caller asserts on what it returns.
 */
export async function answer(
  u: { dnsPort: number },
  name: string,
  expected: readonly string[],
): Promise<unknown[]> {
  const end = Date.now() + 10_000;
  let last: unknown[] = [];
  while (Date.now() < end) {
    try {
      const r = await queryDns(u.dnsPort, name);
      last = r.answers.filter((a) => a.type === "A").map((a) => a.data);
      if (isDeepStrictEqual(last, expected)) return last;
    } catch {
      // no answer yet: ask again
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return last;
}
