// What the proxy fuzz tests share: cutting a message at random points, and sending the pieces on
// a socket with a pause between them.

import type { Socket } from "node:net";

/** Split `b` at the given points (mod its length), empty pieces dropped. */
export function splitAt(b: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % b.length))].sort((x, y) => x - y);
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    parts.push(b.subarray(from, p));
    from = p;
  }
  parts.push(b.subarray(from));
  return parts.filter((p) => p.length > 0);
}

/** Write `parts` with a pause between them; what came back once the peer closed (or 3 s). */
export function sendInParts(s: Socket, parts: readonly Buffer[]): Promise<Buffer> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    const timer = setTimeout(() => s.destroy(), 3000);
    s.on("data", (d: Buffer) => got.push(d));
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(got));
    });
    let i = 0;
    const next = () => {
      if (i < parts.length && !s.destroyed) {
        s.write(parts[i++]!);
        setTimeout(next, 1);
      } else if (!s.destroyed) s.end();
    };
    next();
  });
}
