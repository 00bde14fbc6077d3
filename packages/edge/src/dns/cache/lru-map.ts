// A map that knows its least recently used entry in O(1): a Map for lookups plus a doubly linked
// list in recency order. The caches used a bare Map's insertion order instead (delete and re-set
// to refresh, `keys().next()` for the oldest), but V8 leaves a deleted Map entry as a hole until
// the table is rebuilt, and an iterator walks over every hole before the first live entry: with
// the cache full, each eviction scanned the holes the previous evictions left, tens of
// microseconds per insert at 100,000 entries (docs/benchmarks.md, "The DNS cache-miss path").

interface Node<K, V> {
  readonly key: K;
  value: V;
  /** Towards the oldest. */
  prev: Node<K, V> | undefined;
  /** Towards the newest. */
  next: Node<K, V> | undefined;
}

export class LruMap<K, V> {
  private readonly map = new Map<K, Node<K, V>>();
  /** The least recently used. */
  private head: Node<K, V> | undefined;
  /** The most recently used. */
  private tail: Node<K, V> | undefined;

  get size(): number {
    return this.map.size;
  }

  /** The value, without changing its recency. */
  get(key: K): V | undefined {
    return this.map.get(key)?.value;
  }

  /** Make `key` the most recently used (nothing when absent). */
  touch(key: K): void {
    const n = this.map.get(key);
    if (n !== undefined && n !== this.tail) {
      this.unlink(n);
      this.append(n);
    }
  }

  /**
   * Set `key` to `value` as the most recently used entry; the value it replaced, if any (one
   * lookup of the key for callers that account for the old value, instead of a get first).
   */
  set(key: K, value: V): V | undefined {
    const n = this.map.get(key);
    if (n !== undefined) {
      const old = n.value;
      n.value = value;
      if (n !== this.tail) {
        this.unlink(n);
        this.append(n);
      }
      return old;
    }
    const node: Node<K, V> = { key, value, prev: undefined, next: undefined };
    this.map.set(key, node);
    this.append(node);
    return undefined;
  }

  delete(key: K): boolean {
    const n = this.map.get(key);
    if (n === undefined) return false;
    this.map.delete(key);
    this.unlink(n);
    return true;
  }

  /** The least recently used entry's value (undefined when empty), without changing anything. */
  oldest(): V | undefined {
    return this.head?.value;
  }

  /** Remove the least recently used entry; its key, or undefined when empty. */
  evictOldest(): K | undefined {
    const n = this.head;
    if (n === undefined) return undefined;
    this.map.delete(n.key);
    this.unlink(n);
    return n.key;
  }

  clear(): void {
    this.map.clear();
    this.head = this.tail = undefined;
  }

  /** Keys from the least to the most recently used. */
  *keys(): IterableIterator<K> {
    for (let n = this.head; n !== undefined; n = n.next) yield n.key;
  }

  private unlink(n: Node<K, V>): void {
    if (n.prev === undefined) this.head = n.next;
    else n.prev.next = n.next;
    if (n.next === undefined) this.tail = n.prev;
    else n.next.prev = n.prev;
    n.prev = n.next = undefined;
  }

  private append(n: Node<K, V>): void {
    n.prev = this.tail;
    if (this.tail === undefined) this.head = n;
    else this.tail.next = n;
    this.tail = n;
  }
}
