// List subscriptions: a list follows a URL (a hosts file, an adblock list, one item a line).
// Control fetches it every `refresh_seconds` with If-None-Match (RFC 9110 §13.1.2), refuses
// bodies over `max_bytes`, and replaces the items only when the new copy parses; a failed fetch
// or a copy that is empty or mostly unparseable keeps the last good items.

import type { ListKind, RejectedLine } from "@gatehouse/contract";
import type { FastifyBaseLogger } from "fastify";
import { sql } from "kysely";
import { audit } from "../audit.ts";
import type { Db } from "../context.ts";
import { type ItemFormat, parseLine } from "./list-items.ts";
import { readLines } from "./stream-items.ts";

const MAX_SUBSCRIPTION_ITEMS = 1_000_000;
const FETCH_TIMEOUT_MS = 60_000;
const BATCH = 10_000;

interface RefreshResult {
  readonly status: "updated" | "not-modified" | "failed";
  readonly itemCount?: number;
  readonly skipped?: number;
  readonly invalid?: number;
  readonly unsupported?: number;
  readonly rejected?: RejectedLine[];
  readonly error?: string;
  readonly httpStatus?: number;
}

interface RefresherOptions {
  readonly log: FastifyBaseLogger;
  /** Called after a list's items changed (auto-publish, cache). */
  readonly onChanged: (accountId: string) => void;
  /** How often due subscriptions are looked for; 0 disables the background loop. */
  readonly tickMs: number;
}

class ParseFailure extends Error {}

export class SubscriptionRefresher {
  readonly #db: Db;
  readonly #opts: RefresherOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(db: Db, opts: RefresherOptions) {
    this.#db = db;
    this.#opts = opts;
  }

  start(): void {
    if (this.#opts.tickMs <= 0) return;
    this.#timer = setInterval(() => {
      this.#running ??= this.tick().finally(() => {
        this.#running = undefined;
      });
    }, this.#opts.tickMs);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }

  /** Refresh every due subscription once; each is claimed first so replicas do not race. */
  async tick(): Promise<void> {
    for (;;) {
      if (this.#closed) return;
      const claimed = await sql<{ list_id: string }>`
        update list_subscriptions set next_fetch_at = now() + make_interval(secs => refresh_seconds)
        where list_id = (select list_id from list_subscriptions where next_fetch_at <= now()
                         order by next_fetch_at limit 1 for update skip locked)
        returning list_id`.execute(this.#db);
      const id = claimed.rows[0]?.list_id;
      if (!id) return;
      const r = await this.refresh(id);
      if (r.status === "failed")
        this.#opts.log.warn({ listId: id, error: r.error }, "list subscription refresh failed");
    }
  }

  /** Fetch one subscription now and apply it. Never throws for remote or parse failures. */
  async refresh(listId: string): Promise<RefreshResult> {
    const sub = await this.#db
      .selectFrom("list_subscriptions")
      .innerJoin("lists", "lists.id", "list_subscriptions.list_id")
      .select([
        "list_subscriptions.url",
        "list_subscriptions.format",
        "list_subscriptions.etag",
        "list_subscriptions.max_bytes",
        "list_subscriptions.account_id",
        "lists.type",
      ])
      .where("list_subscriptions.list_id", "=", listId)
      .executeTakeFirst();
    if (!sub) return { status: "failed", error: "no subscription" };
    let result: RefreshResult;
    let etag: string | null = sub.etag;
    try {
      const res = await fetch(sub.url, {
        headers: sub.etag ? { "if-none-match": sub.etag } : {},
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
        redirect: "follow",
      });
      if (res.status === 304) {
        await res.body?.cancel();
        result = { status: "not-modified", httpStatus: 304 };
      } else if (!res.ok || !res.body) {
        await res.body?.cancel();
        result = { status: "failed", httpStatus: res.status, error: `HTTP ${res.status}` };
      } else {
        const length = Number(res.headers.get("content-length") ?? "0");
        if (length > sub.max_bytes) {
          await res.body.cancel();
          throw new ParseFailure(`body of ${length} bytes exceeds the ${sub.max_bytes}-byte limit`);
        }
        const items = await this.#parse(
          res.body as unknown as AsyncIterable<Uint8Array>,
          sub.type as ListKind,
          sub.format as ItemFormat,
          sub.max_bytes,
        );
        const itemCount = await this.#apply(listId, sub.account_id, items.values);
        etag = res.headers.get("etag");
        result = {
          status: "updated",
          httpStatus: res.status,
          itemCount,
          skipped: items.skipped,
          invalid: items.invalid,
          unsupported: items.unsupported,
          rejected: items.rejected,
        };
      }
    } catch (err) {
      result = { status: "failed", error: (err as Error).message.slice(0, 500) };
    }
    const now = new Date();
    await this.#db
      .updateTable("list_subscriptions")
      .set({
        last_fetch_at: now,
        ...(result.status !== "failed"
          ? { last_success_at: now, last_error: null, etag }
          : { last_error: result.error ?? "failed" }),
        last_status: JSON.stringify(result),
        updated_at: now,
      })
      .where("list_id", "=", listId)
      .execute();
    if (result.status === "updated") this.#opts.onChanged(sub.account_id);
    return result;
  }

  async #parse(
    body: AsyncIterable<Uint8Array>,
    kind: ListKind,
    format: ItemFormat,
    maxBytes: number,
  ): Promise<{
    values: Set<string>;
    skipped: number;
    invalid: number;
    unsupported: number;
    rejected: RejectedLine[];
  }> {
    const values = new Set<string>();
    let skipped = 0;
    let invalid = 0;
    let unsupported = 0;
    const rejected: RejectedLine[] = [];
    try {
      for await (const { line, no } of readLines(body, maxBytes)) {
        const r = parseLine(kind, format, line);
        if (r.kind === "skip") skipped++;
        else if (r.kind === "unsupported") {
          skipped++;
          unsupported++;
        } else if (r.kind === "invalid") {
          invalid++;
          if (rejected.length < 10)
            rejected.push({ line: no, text: line.slice(0, 200), reason: r.reason.slice(0, 300) });
        } else for (const v of r.values) values.add(v);
        if (values.size > MAX_SUBSCRIPTION_ITEMS)
          throw new ParseFailure(`more than ${MAX_SUBSCRIPTION_ITEMS} items`);
      }
    } catch (err) {
      throw new ParseFailure((err as Error).message);
    }
    // A list that suddenly parses as nothing, or as mostly garbage, is a broken copy (an error
    // page served with 200, a format change): keep the last good items. Lines that cannot be
    // used are otherwise skipped and counted, never fatal.
    if (values.size === 0) throw new ParseFailure("the copy holds no items");
    if (invalid > values.size) throw new ParseFailure(`${invalid} of the lines do not parse`);
    return { values, skipped, invalid, unsupported, rejected };
  }

  async #apply(listId: string, accountId: string, values: Set<string>): Promise<number> {
    const all = [...values];
    return this.#db.transaction().execute(async (trx) => {
      const before = await trx
        .selectFrom("lists")
        .select(["item_count", "version"])
        .where("id", "=", listId)
        .executeTakeFirstOrThrow();
      await trx.deleteFrom("list_items").where("list_id", "=", listId).execute();
      for (let i = 0; i < all.length; i += BATCH) {
        const chunk = all.slice(i, i + BATCH);
        await sql`insert into list_items (list_id, value) select ${listId}, unnest(${chunk}::text[])
          on conflict do nothing`.execute(trx);
      }
      await trx
        .updateTable("lists")
        .set({ item_count: all.length, version: before.version + 1, updated_at: new Date() })
        .where("id", "=", listId)
        .execute();
      await audit(trx, {
        accountId,
        actor: "subscription",
        resource: "list",
        resourceId: listId,
        action: "items.refresh",
        before: { itemCount: before.item_count },
        after: { itemCount: all.length },
      });
      return all.length;
    });
  }
}
