// Resource ids: a prefix saying what it is, then time-ordered base36 and randomness, so ids sort
// roughly by creation (cursor pagination walks them in order) and never collide.

import { randomBytes } from "node:crypto";

export function newId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36).padStart(9, "0")}${randomBytes(6).toString("hex")}`;
}

/** The non-secret half of a token: 16 hex digits, looked up by primary key. */
export function newTokenId(): string {
  return randomBytes(8).toString("hex");
}
