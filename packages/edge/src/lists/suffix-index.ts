// One look at a name for all the small plain domain lists of a list set. With many policies each
// reading its own list (`any(dns.domains[*] in $ads)`), every list hashed the name and each of its
// parents and probed its own table: with 33 lists of 1,000 names, 420 ns a list, most of a DNS
// policy's cost. Here the hashes of every name those lists hold are filed together, each with
// the lists that hold a name of that hash: a query's name and parents are hashed once and looked
// up once (the first list asked does it, for all), and a list none of whose names shares a hash
// with them answers no at once. A list that may hold one still answers by its own verdict, so
// exceptions and what a list says stay exactly as before; only the lists' misses are cheaper.
//
// Only lists that are plain names (ruleCount 0: a rule may match a name no hash says) and small
// are filed: the index holds a hash and a list number per name, which a list of a million names
// must not pay twice. Larger lists answer as before.

import type { BytesValue } from "@gatehouse/rules";
import type { Steps } from "../slices.ts";
import type { DomainList } from "./domain-list.ts";
import { nameHash } from "./domain-set.ts";

/** A list with more names than this is not filed (it answers by its own table). */
export const INDEX_LIST_MAX_NAMES = 65_536;
/** Names filed in all, at most (about 53 bytes of heap each: 7 MB at most). */
export const INDEX_MAX_NAMES = 131_072;

export class SuffixIndex {
  /** A name hash (shifted to a small integer) → the slot of the one list holding it, or all. */
  readonly #lists = new Map<number, number | number[]>();
  /** Per list slot, the lookup in which it was last found to share a hash with the name. */
  readonly #marks: Int32Array;
  #lookups = 0;
  /** The name chain last looked up (an array is never changed once a context holds it). */
  #last: readonly BytesValue[] | undefined = undefined;
  #lastFirst: BytesValue | undefined = undefined;
  #lastLength = 0;
  #lastChain = false;

  /** An index for `count` lists; file() each, then give it to the lists' query state. */
  constructor(count: number) {
    this.#marks = new Int32Array(count);
  }

  /** Files the names of `list` under `slot` and marks the list as filed. */
  file(list: DomainList, slot: number): void {
    list.block.forEachHash((h) => {
      const key = h >>> 2; // a small integer key; a shared key only makes a list ask itself
      const had = this.#lists.get(key);
      if (had === undefined) this.#lists.set(key, slot);
      else if (typeof had === "number") {
        if (had !== slot) this.#lists.set(key, [had, slot]);
      } else if (had[had.length - 1] !== slot) had.push(slot);
    });
    list.indexSlot = slot;
  }

  /** How many distinct hashes are filed (for tests and reporting). */
  get size(): number {
    return this.#lists.size;
  }

  /**
   * For `values` as `dns.domains` holds it: NOT_A_CHAIN when it is not a name followed by each
   * of its parents (the list then reads it element by element), else whether the list in
   * `slot` may hold the name or a parent (MAYBE) or holds neither (NO).
   */
  lookup(
    values: readonly BytesValue[],
    slot: number,
    isChain: (v: readonly BytesValue[]) => boolean,
  ): Lookup {
    const first = values[0];
    if (values !== this.#last || first !== this.#lastFirst || values.length !== this.#lastLength) {
      this.#last = values;
      this.#lastFirst = first;
      this.#lastLength = values.length;
      this.#lastChain = first !== undefined && isChain(values);
      if (this.#lastChain && first !== undefined) this.#mark(first);
    }
    if (!this.#lastChain) return Lookup.NotAChain;
    return this.#marks[slot] === this.#lookups ? Lookup.Maybe : Lookup.No;
  }

  /** Marks every list that holds a name hashed like `name` or one of its parents. */
  #mark(name: BytesValue): void {
    const n = ++this.#lookups;
    const marks = this.#marks;
    // The suffixes DomainSet.suffixAt tries: the name, then after each dot.
    for (let i = 0; ; ) {
      if (name.length - i <= 255) {
        const hit = this.#lists.get(nameHash(name, i) >>> 2);
        if (hit !== undefined) {
          if (typeof hit === "number") marks[hit] = n;
          else for (const slot of hit) marks[slot] = n;
        }
      }
      const dot = name.indexOf(".", i);
      if (dot === -1) return;
      i = dot + 1;
    }
  }
}

export const Lookup = { NotAChain: 0, Maybe: 1, No: 2 } as const;
export type Lookup = (typeof Lookup)[keyof typeof Lookup];

/**
 * The index for a list set's domain lists, a list per step (slices.ts), or undefined when fewer
 * than two can be filed (one list's own table is as quick as the index).
 */
export function* suffixIndexSteps(lists: Iterable<DomainList>): Steps<SuffixIndex | undefined> {
  const filed: DomainList[] = [];
  let names = 0;
  for (const l of lists) {
    if (l.ruleCount !== 0 || l.block.size === 0 || l.block.size > INDEX_LIST_MAX_NAMES) continue;
    if (names + l.block.size > INDEX_MAX_NAMES) continue;
    names += l.block.size;
    filed.push(l);
  }
  if (filed.length < 2) return undefined;
  const index = new SuffixIndex(filed.length);
  for (const [slot, l] of filed.entries()) {
    index.file(l, slot);
    yield;
  }
  return index;
}
