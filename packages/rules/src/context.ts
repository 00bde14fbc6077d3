// The per-query bag of field values. Values live in an array indexed by field id (resolved at
// compile time), so a filter reads `values[id]` and never looks a name up while executing.
// Conversion from convenient JS forms happens here, once per `set`, not in the filter.
import type { ExecutionContext, IpValue, ListSet, Type } from "./api.ts";
import { isBinaryString, toBytes } from "./bytes.ts";
import { parseIp } from "./ip.ts";
import { typeToString } from "./types.ts";

/** Run-time Map<T>: entries by key and values in byte-wise key order (what `[*]` visits). */
export class MapValue {
  readonly entries: ReadonlyMap<string, unknown>;
  readonly values: readonly unknown[];
  constructor(pairs: [string, unknown][]) {
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.entries = new Map(pairs);
    this.values = pairs.map((p) => p[1]);
  }
}

export interface FieldSlot {
  readonly id: number;
  readonly name: string;
  readonly type: Type;
}

interface ContextOwner {
  readonly slots: ReadonlyMap<string, FieldSlot>;
  readonly fieldCount: number;
}

export class Context implements ExecutionContext {
  readonly owner: ContextOwner;
  /** values[id]; undefined = missing. */
  readonly values: unknown[];
  lists: ListSet | undefined;

  constructor(owner: ContextOwner, lists?: ListSet) {
    this.owner = owner;
    this.values = new Array(owner.fieldCount).fill(undefined);
    this.lists = lists;
  }

  #slot(field: string): FieldSlot {
    const slot = this.owner.slots.get(field);
    if (!slot) throw new Error(`unknown field ${JSON.stringify(field)}`);
    return slot;
  }

  set(field: string, value: unknown): this {
    const slot = this.#slot(field);
    this.values[slot.id] = value == null ? undefined : convert(value, slot.type, false, field);
    return this;
  }

  setText(field: string, value: unknown): this {
    const slot = this.#slot(field);
    this.values[slot.id] = value == null ? undefined : convert(value, slot.type, true, field);
    return this;
  }

  /** Marks one field missing. */
  unset(field: string): this {
    this.values[this.#slot(field).id] = undefined;
    return this;
  }

  reset(): this {
    this.values.fill(undefined);
    return this;
  }
}

function bad(field: string, type: Type, value: unknown, why?: string): never {
  const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 64)) : typeof value;
  throw new TypeError(
    `field ${JSON.stringify(field)} of type ${typeToString(type)} cannot take ${shown}${why ? `: ${why}` : ""}`,
  );
}

/** Converts a JS value to the run-time representation; `text` encodes strings as UTF-8. */
export function convert(value: unknown, type: Type, text: boolean, field: string): unknown {
  switch (type.kind) {
    case "Bool":
      if (typeof value !== "boolean") bad(field, type, value);
      return value;
    case "Int":
      if (typeof value === "bigint") return Number(value);
      if (typeof value !== "number" || !Number.isInteger(value)) bad(field, type, value);
      return value;
    case "Bytes":
      if (typeof value === "string") {
        // A char above 0xFF cannot be a byte, so such a string can only be text: encode it
        // rather than fail the query (setText is the explicit way to pass text).
        if (text || !isBinaryString(value)) return toBytes(value);
        return value;
      }
      if (value instanceof Uint8Array) {
        let s = "";
        for (const b of value) s += String.fromCharCode(b);
        return s;
      }
      return bad(field, type, value);
    case "Ip": {
      if (typeof value === "string") {
        const ip = parseIp(value);
        if (!ip) bad(field, type, value, "not an IP address");
        return ip;
      }
      if (isIpValue(value)) return value;
      return bad(field, type, value);
    }
    case "Array": {
      if (!Array.isArray(value)) bad(field, type, value);
      const arr = value as unknown[];
      const of = type.of;
      // Already in run-time form (the common case for Bytes/Int/Bool arrays): keep the array.
      if (!text && (of.kind === "Bytes" || of.kind === "Int" || of.kind === "Bool")) {
        let same = true;
        for (let i = 0; i < arr.length; i++) {
          const v = arr[i];
          const ok =
            of.kind === "Bytes"
              ? typeof v === "string" && isBinaryString(v)
              : of.kind === "Int"
                ? typeof v === "number" && Number.isInteger(v)
                : typeof v === "boolean";
          if (!ok) {
            same = false;
            break;
          }
        }
        if (same) return arr;
      }
      return arr.map((v) => {
        if (v == null) bad(field, type, v, "arrays cannot hold missing values");
        return convert(v, of, text, field);
      });
    }
    case "Map": {
      if (value instanceof MapValue) return value;
      const pairs: [string, unknown][] = [];
      const entries =
        value instanceof Map
          ? [...value.entries()]
          : typeof value === "object"
            ? Object.entries(value as object)
            : bad(field, type, value);
      for (const [k, v] of entries as [unknown, unknown][]) {
        if (typeof k !== "string") bad(field, type, value, "map keys are strings");
        if (v == null) continue;
        pairs.push([text ? toBytes(k) : k, convert(v, type.of, text, field)]);
      }
      return new MapValue(pairs);
    }
  }
}

function isIpValue(v: unknown): v is IpValue {
  if (typeof v !== "object" || v === null) return false;
  const o = v as { family?: unknown; v4?: unknown; w?: unknown };
  if (o.family === 4) return typeof o.v4 === "number" && o.v4 >= 0 && o.v4 <= 0xffffffff;
  if (o.family === 6) {
    return (
      (Array.isArray(o.w) || o.w instanceof Uint32Array) && (o.w as ArrayLike<number>).length === 4
    );
  }
  return false;
}
