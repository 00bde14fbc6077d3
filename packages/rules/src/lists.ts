// List matchers for `in $name` (spec §3.10). Built once when a list is loaded, probed per
// evaluation without allocating:
// - Bytes: a hash set of binary strings;
// - Ip: IPv4 as one hash set per distinct prefix length (a lookup masks the address once per
//   length, so it costs O(distinct prefix lengths) ≤ 33 probes); IPv6 as merged ranges searched
//   by bisection (O(log n) word comparisons, no per-lookup key building);
// - Int: sorted, merged inclusive ranges with binary search.
import type { IpValue, ListMatcher, ListSet, ListType } from "./api.ts";
import { toBytes } from "./bytes.ts";
import { parseCidr, parseIp, v4Mask } from "./ip.ts";
import { IntRangeSet, Ipv6RangeSet } from "./value-sets.ts";

export class BytesList implements ListMatcher<string> {
  readonly #set: Set<string>;
  constructor(items: Iterable<string>, text = true) {
    this.#set = new Set();
    for (const i of items) this.#set.add(text ? toBytes(i) : i);
  }
  get size(): number {
    return this.#set.size;
  }
  has(value: string): boolean {
    return this.#set.has(value);
  }
}

export class IntList implements ListMatcher<number> {
  readonly #ranges: IntRangeSet;
  constructor(items: Iterable<number | readonly [number, number] | string>) {
    const ranges: [number, number][] = [];
    let n = 0;
    for (const item of items) {
      ranges.push(parseIntItem(item, n++));
    }
    this.#ranges = new IntRangeSet(ranges);
  }
  has(value: number): boolean {
    return this.#ranges.has(value);
  }
}

function parseIntItem(
  item: number | readonly [number, number] | string,
  n: number,
): [number, number] {
  if (typeof item === "number") {
    if (!Number.isInteger(item)) throw new Error(`Int list item #${n}: ${item} is not an integer`);
    return [item, item];
  }
  if (typeof item === "string") {
    const m = /^\s*(-?[0-9]+)\s*(?:\.\.\s*(-?[0-9]+)\s*)?$/.exec(item);
    if (!m)
      throw new Error(
        `Int list item #${n}: ${JSON.stringify(item)} is not an integer or a range a..b`,
      );
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a)
      throw new Error(`Int list item #${n}: range ${JSON.stringify(item)} ends before it starts`);
    return [a, b];
  }
  if (
    Array.isArray(item) &&
    item.length === 2 &&
    Number.isInteger(item[0]) &&
    Number.isInteger(item[1]) &&
    item[0] <= item[1]
  ) {
    return [item[0], item[1]];
  }
  throw new Error(`Int list item #${n}: expected an integer, "a..b" or [a, b]`);
}

export class IpList implements ListMatcher<IpValue> {
  /** byPrefix[len] = set of masked IPv4 networks of that length */
  readonly #v4ByPrefix: (Set<number> | undefined)[] = new Array(33).fill(undefined);
  /** The non-empty sets of #v4ByPrefix, longest prefix first, with their masks alongside. */
  #v4Sets: Set<number>[] = [];
  #v4Masks: number[] = [];
  readonly #v6: Ipv6RangeSet;

  /** Items: "10.0.0.0/8", "192.0.2.1", "2001:db8::/32", or IpValue. */
  constructor(items: Iterable<string | IpValue>) {
    const v6: [readonly number[], readonly number[]][] = [];
    let n = 0;
    for (const item of items) {
      const idx = n++;
      let start: IpValue;
      let end: IpValue;
      let prefix: number;
      if (typeof item === "string") {
        const text = item.trim();
        const slash = text.indexOf("/");
        if (slash >= 0) {
          const r = parseCidr(text.slice(0, slash), text.slice(slash + 1));
          if (!r.ok) throw new Error(`Ip list item #${idx} ${JSON.stringify(item)}: ${r.message}`);
          start = r.start;
          end = r.end;
          prefix = r.prefix;
        } else {
          const ip = parseIp(text);
          if (!ip)
            throw new Error(
              `Ip list item #${idx} ${JSON.stringify(item)}: not an IP address or CIDR`,
            );
          start = end = ip;
          prefix = ip.family === 4 ? 32 : 128;
        }
      } else {
        start = end = item;
        prefix = item.family === 4 ? 32 : 128;
      }
      if (start.family === 4) {
        let set = this.#v4ByPrefix[prefix];
        if (!set) {
          set = new Set();
          this.#v4ByPrefix[prefix] = set;
        }
        set.add(start.v4);
      } else {
        v6.push([start.w, (end as { w: readonly number[] }).w]);
      }
    }
    // Longest prefixes first: most lookups that hit, hit a host or a long prefix.
    for (let len = 32; len >= 0; len--) {
      const set = this.#v4ByPrefix[len];
      if (set) {
        this.#v4Sets.push(set);
        this.#v4Masks.push(v4Mask(len));
      }
    }
    this.#v6 = new Ipv6RangeSet(v6);
  }

  has(ip: IpValue): boolean {
    if (ip.family === 6) return this.#v6.has(ip.w);
    const masks = this.#v4Masks;
    let i = 0;
    for (const set of this.#v4Sets) {
      if (set.has((ip.v4 & (masks[i++] ?? 0)) >>> 0)) return true;
    }
    return false;
  }
}

/** A mutable ListSet: the embedder adds lists by name and type. */
export class ListRegistry implements ListSet {
  readonly #bytes = new Map<string, ListMatcher<string>>();
  readonly #int = new Map<string, ListMatcher<number>>();
  readonly #ip = new Map<string, ListMatcher<IpValue>>();

  bytes(name: string): ListMatcher<string> | undefined {
    return this.#bytes.get(name);
  }
  int(name: string): ListMatcher<number> | undefined {
    return this.#int.get(name);
  }
  ip(name: string): ListMatcher<IpValue> | undefined {
    return this.#ip.get(name);
  }

  /** Bytes items are UTF-8 text (e.g. domain names). */
  addBytes(name: string, items: Iterable<string> | ListMatcher<string>): this {
    this.#bytes.set(name, isMatcher(items) ? items : new BytesList(items));
    return this;
  }
  addInt(
    name: string,
    items: Iterable<number | readonly [number, number] | string> | ListMatcher<number>,
  ): this {
    this.#int.set(name, isMatcher(items) ? items : new IntList(items));
    return this;
  }
  addIp(name: string, items: Iterable<string | IpValue> | ListMatcher<IpValue>): this {
    this.#ip.set(name, isMatcher(items) ? items : new IpList(items));
    return this;
  }
  /** Adds a list of the given type from JSON-like items (Scheme.fromJSON's `lists`). */
  add(name: string, type: ListType, items: Iterable<unknown>): this {
    switch (type) {
      case "Bytes":
        return this.addBytes(name, items as Iterable<string>);
      case "Int":
        return this.addInt(name, items as Iterable<number>);
      case "Ip":
        return this.addIp(name, items as Iterable<string>);
      default:
        throw new Error(`list ${JSON.stringify(name)}: unknown list type ${JSON.stringify(type)}`);
    }
  }
  delete(name: string): this {
    this.#bytes.delete(name);
    this.#int.delete(name);
    this.#ip.delete(name);
    return this;
  }
}

function isMatcher<V>(x: unknown): x is ListMatcher<V> {
  return (
    typeof x === "object" &&
    x !== null &&
    typeof (x as { has?: unknown }).has === "function" &&
    !(Symbol.iterator in x)
  );
}

export function createListSet(): ListRegistry {
  return new ListRegistry();
}
