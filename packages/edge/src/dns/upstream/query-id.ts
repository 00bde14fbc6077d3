// Unpredictable query IDs for upstream queries (RFC 5452 §9.2): drawn from the CSPRNG in
// batches so the per-query cost is an array read.

import { randomFillSync } from "node:crypto";
import { at } from "../../net/bytes.ts";

const pool = new Uint16Array(4096);
let next = pool.length;

export function randomId(): number {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  return at(pool, next++);
}

/** Randomise the case of ASCII letters (draft-vixie-dnsext-dns0x20) for extra entropy. */
export function randomCase(name: string): string {
  let out = "";
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    out += letter ? String.fromCharCode(randomId() & 1 ? c | 0x20 : c & ~0x20) : name[i];
  }
  return out;
}
