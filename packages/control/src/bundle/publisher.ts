// Publishing: compile → validate whole (checkBundle: a bundle that fails is never stored) →
// assign the next version → hash → store → wake waiting edges. A rollback stores an earlier
// version's content the same way, as the next version (versions only grow, so edges take it
// like any publish). An edge is due its pinned version if an admin pinned it (staged rollout),
// else the latest. Publishes and rollbacks of one account are serialised in-process; across
// replicas the (account, version) primary key refuses a duplicate version. Auto-publish after
// changes is debounced per account.

import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { constants, gunzip, gzip } from "node:zlib";
import {
  type BundleProblem,
  type ConfigBundle,
  canonicalJson,
  checkBundle,
  GatehouseError,
  type PolicyTestReport,
  type PolicyWarning,
  shadowedPolicies,
} from "@gatehouse/contract";
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from "fastify";
import { sql } from "kysely";
import { audit } from "../audit.ts";
import type { Db } from "../context.ts";
import { notFound } from "../http/errors.ts";
import type { RootCaStore } from "../tls/root-ca.ts";
import { type BundleContent, type BundleSummary, compileContent, summarize } from "./compile.ts";
import { fastBundleHash } from "./fast-hash.ts";
import type { VersionNotifier } from "./notifier.ts";
import { failureSummary, runPolicyTests, storedPolicyTests } from "./policy-tests.ts";
import type { Stager } from "./rollout.ts";

export interface PublishResult {
  readonly version: number;
  readonly hash: string;
  readonly createdAt: string;
  /** False when nothing changed since the latest bundle (no new version). */
  readonly changed: boolean;
  readonly summary: BundleSummary;
}

export interface RollbackResult extends PublishResult {
  /** The version whose content is now current. */
  readonly rolledBackTo: number;
}

/** What #store writes besides the content: who, which audit action, and its extra fields. */
interface StoreRecord {
  readonly actor: string;
  readonly action: "publish" | "publish-emergency" | "rollback";
  readonly auditExtra?: Record<string, unknown>;
}

/** How many earlier versions bundleAt keeps in memory. */
const OLDER_CACHED = 4;
/**
 * How long an edge's pin is trusted from memory. Pin changes on this replica update it and on
 * others arrive by NOTIFY; this bounds staleness should that connection drop.
 */
const PIN_TTL_MS = 60_000;
/** Edges whose pin is remembered (the oldest are forgotten beyond this). */
const PINS_CACHED = 100_000;

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** A stored bundle: gzip bytes, with the JSON text decoded on first need. */
export class StoredBundle {
  readonly version: number;
  readonly hash: string;
  readonly gz: Buffer;
  #text: Promise<string> | undefined;
  constructor(version: number, hash: string, gz: Buffer, text?: string) {
    this.version = version;
    this.hash = hash;
    this.gz = gz;
    if (text !== undefined) this.#text = Promise.resolve(text);
  }
  text(): Promise<string> {
    this.#text ??= gunzipAsync(this.gz).then((b) => b.toString("utf8"));
    return this.#text;
  }
  static async fromRow(r: {
    version: number;
    hash: string;
    body: string | null;
    body_gz: Uint8Array | null;
    body_gz_b64: string | null;
  }): Promise<StoredBundle> {
    if (r.body_gz_b64)
      return new StoredBundle(r.version, r.hash, Buffer.from(r.body_gz_b64, "base64"));
    if (r.body_gz) return new StoredBundle(r.version, r.hash, Buffer.from(r.body_gz));
    const text = r.body ?? "";
    return new StoredBundle(r.version, r.hash, await gzipBody(text), text);
  }
}

/** Level 1: most of the size win at a fraction of the time (bundles are mostly names). */
function gzipBody(text: string): Promise<Buffer> {
  return gzipAsync(text, { level: constants.Z_BEST_SPEED });
}

type LatestBundle = StoredBundle;

interface LatestRow {
  readonly version: number;
  readonly hash: string;
  readonly content_hash: string;
  readonly created_at: Date;
}

/** The answer when the latest version already has the content: no new version. */
function unchanged(latest: LatestRow, summary: BundleSummary): PublishResult {
  return {
    version: latest.version,
    hash: latest.hash,
    createdAt: latest.created_at.toISOString(),
    changed: false,
    summary,
  };
}

/**
 * Send a bundle: the stored gzip bytes as they are when the client accepts gzip (RFC 9110
 * §8.4.1.3, §12.5.3), the JSON text otherwise.
 */
export async function sendBundle(
  req: FastifyRequest,
  reply: FastifyReply,
  b: StoredBundle,
): Promise<FastifyReply> {
  reply
    .header("content-type", "application/json; charset=utf-8")
    .header("etag", `"${b.hash}"`)
    .header("vary", "accept-encoding")
    .header("x-gatehouse-config-version", String(b.version));
  const accept = req.headers["accept-encoding"];
  if (
    typeof accept === "string" &&
    /(^|,)\s*gzip\s*(;\s*q=(1(\.0{0,3})?|0?\.\d*[1-9]\d*))?\s*(,|$)/i.test(accept)
  )
    return reply.header("content-encoding", "gzip").send(b.gz);
  return reply.send(await b.text());
}

interface PublisherOptions {
  /** NOTIFY channel for other replicas (PostgreSQL); absent → no NOTIFY. */
  readonly notifyChannel?: string;
  /** Debounce of auto-publish after a change, ms; 0 or negative disables auto-publish. */
  readonly autoPublishDelayMs: number;
  readonly log: FastifyBaseLogger;
  /** Each publish attempt's outcome and duration (control's metrics). */
  readonly onPublish?: (result: "published" | "unchanged" | "rejected", seconds: number) => void;
  /** Each run of policy tests (control's metrics). */
  readonly onPolicyTests?: (
    run: "publish" | "check" | "document",
    report: PolicyTestReport,
  ) => void;
  /** Root CAs: a bundle whose locations inspect TLS carries its account's root. */
  readonly roots?: RootCaStore;
}

export class Publisher {
  readonly #db: Db;
  readonly #notifier: VersionNotifier;
  readonly #opts: PublisherOptions;
  /** Tail of each account's publish chain (serialises publishes per account). */
  readonly #chains = new Map<string, Promise<unknown>>();
  readonly #latest = new Map<string, LatestBundle>();
  /** Recently read earlier versions (pinned edges poll them), oldest first; immutable. */
  readonly #older = new Map<string, StoredBundle>();
  /**
   * Each edge's pin as last read or set (null: follows the latest) and its admin status (active,
   * draining, decommissioned), oldest first.
   */
  readonly #pins = new Map<
    string,
    { readonly pin: number | null; readonly status: string | undefined; readonly at: number }
  >();
  /** Bumped by every pin change: a read that started before one must not be remembered. */
  #pinEpoch = 0;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #closed = false;
  /** Staged rollouts (absent: every publish goes to every edge at once). */
  #stager: Stager | undefined;

  constructor(db: Db, notifier: VersionNotifier, opts: PublisherOptions) {
    this.#db = db;
    this.#notifier = notifier;
    this.#opts = opts;
  }

  /** Publishes start a staged rollout when the account has a plan. */
  useStager(stager: Stager): void {
    this.#stager = stager;
  }

  /**
   * What a publish would refuse (`problems`), policies that can never match (`warnings`) and
   * the stored policy tests' results (not run while the configuration does not compile).
   */
  async check(accountId: string): Promise<{
    problems: BundleProblem[];
    warnings: PolicyWarning[];
    tests: PolicyTestReport;
  }> {
    const [content, cases] = await Promise.all([
      compileContent(this.#db, accountId, this.#opts.roots),
      storedPolicyTests(this.#db, accountId),
    ]);
    const problems = checkBundle({ ...content, version: 0 });
    if (problems.length > 0)
      return { problems, warnings: [], tests: { passed: 0, failed: 0, results: [] } };
    const tests = runPolicyTests(content, cases);
    this.countTests("check", tests);
    return { problems, warnings: shadowedPolicies(content), tests };
  }

  /** Count a run of policy tests in control's metrics. */
  countTests(run: "publish" | "check" | "document", report: PolicyTestReport): void {
    if (report.results.length > 0) this.#opts.onPolicyTests?.(run, report);
  }

  publish(
    accountId: string,
    actor: string,
    opts: { force?: boolean; emergency?: boolean } = {},
  ): Promise<PublishResult> {
    return this.#serial(accountId, () =>
      this.#timed(accountId, actor, opts.force ?? false, opts.emergency ?? false),
    );
  }

  /**
   * Make `version`'s content current again by storing it as the next version (audit action
   * `rollback`). Nothing new is stored when the latest version already has that content
   * (`changed: false`). 404 for a version the account does not have; 422 when the old bundle no
   * longer passes the current validation.
   */
  rollback(accountId: string, actor: string, version: number): Promise<RollbackResult> {
    return this.#serial(accountId, () => this.#rollback(accountId, actor, version));
  }

  /** Run `go` after the account's earlier publishes and rollbacks have finished. */
  #serial<R>(accountId: string, go: () => Promise<R>): Promise<R> {
    const prev = this.#chains.get(accountId) ?? Promise.resolve();
    const run = prev.then(go, go);
    const tail = run.catch(() => {});
    this.#chains.set(accountId, tail);
    void tail.then(() => {
      if (this.#chains.get(accountId) === tail) this.#chains.delete(accountId);
    });
    return run;
  }

  /** #publish, timed from when its turn in the account's chain comes. */
  async #timed(
    accountId: string,
    actor: string,
    force: boolean,
    emergency: boolean,
  ): Promise<PublishResult> {
    const t0 = performance.now();
    const seconds = () => (performance.now() - t0) / 1000;
    try {
      const r = await this.#publish(accountId, actor, force, emergency);
      this.#opts.onPublish?.(r.changed ? "published" : "unchanged", seconds());
      return r;
    } catch (e) {
      if (e instanceof GatehouseError && e.code === "GH_ERR_CONFIG_REJECTED")
        this.#opts.onPublish?.("rejected", seconds());
      throw e;
    }
  }

  async #publish(
    accountId: string,
    actor: string,
    force: boolean,
    emergency: boolean,
  ): Promise<PublishResult> {
    const content = await compileContent(this.#db, accountId, this.#opts.roots);
    const problems = checkBundle({ ...content, version: 0 });
    const [firstProblem] = problems;
    if (firstProblem !== undefined)
      throw new GatehouseError(
        "GH_ERR_CONFIG_REJECTED",
        `the configuration does not compile: ${firstProblem.message}`,
        { problems: problems.slice(0, 50) },
      );
    // Policy tests run before every publish: a failing case refuses it, naming the case and the
    // policy that decided.
    const tests = runPolicyTests(content, await storedPolicyTests(this.#db, accountId));
    this.countTests("publish", tests);
    if (tests.failed > 0)
      throw new GatehouseError("GH_ERR_CONFIG_REJECTED", failureSummary(tests), {
        problems: [],
        tests: tests.results.filter((r) => !r.passed).slice(0, 50),
      });
    const contentHash = createHash("sha256").update(JSON.stringify(content)).digest("hex");
    const latest = await this.#latestRow(accountId);
    if (latest && latest.content_hash === contentHash && !force)
      return unchanged(latest, summarize(content));
    const stager = this.#stager;
    if (!stager || !latest)
      return this.#store(accountId, latest, content, contentHash, { actor, action: "publish" });
    if (emergency) {
      await stager.supersede(accountId, actor);
      return this.#store(accountId, latest, content, contentHash, {
        actor,
        action: "publish-emergency",
      });
    }
    // Hold the edges at the version they run before the new one exists, then stage it.
    const held = await stager.hold(accountId, latest.version);
    let stored: PublishResult;
    try {
      stored = await this.#store(accountId, latest, content, contentHash, {
        actor,
        action: "publish",
      });
    } catch (e) {
      if (held) await stager.release(accountId, latest.version, held, latest.version);
      throw e;
    }
    if (held) await stager.start(accountId, latest.version, stored.version, actor, held);
    return stored;
  }

  async #rollback(accountId: string, actor: string, target: number): Promise<RollbackResult> {
    const row = await this.#db
      .selectFrom("bundles")
      .select(["version", "hash", "content_hash", "body", "body_gz", "body_gz_b64"])
      .where("account_id", "=", accountId)
      .where("version", "=", target)
      .executeTakeFirst();
    if (!row) throw notFound(`bundle version ${target}`);
    const old = JSON.parse(await (await StoredBundle.fromRow(row)).text()) as ConfigBundle;
    const { version: _v, hash: _h, createdAt: _c, ...content } = old;
    // Bundles stored by an older control may not pass today's contract: never ship one that
    // the edges would refuse.
    const problems = checkBundle({ ...content, version: 0 });
    const [firstProblem] = problems;
    if (firstProblem !== undefined)
      throw new GatehouseError(
        "GH_ERR_CONFIG_REJECTED",
        `version ${target} does not pass validation any more: ${firstProblem.message}`,
        { problems: problems.slice(0, 50) },
      );
    const latest = await this.#latestRow(accountId);
    if (latest && latest.content_hash === row.content_hash)
      return { ...unchanged(latest, summarize(content)), rolledBackTo: target };
    const stored = await this.#store(accountId, latest, content, row.content_hash, {
      actor,
      action: "rollback",
      auditExtra: { rolledBackTo: target, from: latest?.version ?? 0 },
    });
    return { ...stored, rolledBackTo: target };
  }

  #latestRow(accountId: string): Promise<LatestRow | undefined> {
    return this.#db
      .selectFrom("bundles")
      .select(["version", "hash", "content_hash", "created_at"])
      .where("account_id", "=", accountId)
      .orderBy("version", "desc")
      .limit(1)
      .executeTakeFirst();
  }

  /** Store `content` as the version after `latest`, audit it and wake the edges. */
  async #store(
    accountId: string,
    latest: LatestRow | undefined,
    content: BundleContent,
    contentHash: string,
    rec: StoreRecord,
  ): Promise<PublishResult> {
    const summary = summarize(content);
    const version = (latest?.version ?? 0) + 1;
    const createdAt = new Date();
    const createdAtText = createdAt.toISOString();
    const bundle: ConfigBundle = {
      ...content,
      version,
      createdAt: createdAtText,
    } as ConfigBundle;
    const hash = fastBundleHash(bundle);
    bundle.hash = hash;
    // Canonical JSON, the hash among the other members: the body is the hashed bytes plus that
    // one member, so an edge checks the hash over the bytes as they stream in and decodes list
    // items straight into its arena (edge sync/bundle-stream.ts).
    const body = canonicalJson(bundle);
    const gz = await gzipBody(body);
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .insertInto("bundles")
        .values({
          account_id: accountId,
          version,
          hash,
          content_hash: contentHash,
          body: null,
          body_gz_b64: gz.toString("base64"),
          summary: JSON.stringify(summary),
          created_by: rec.actor,
          created_at: createdAt,
        })
        .execute();
      if (this.#opts.notifyChannel)
        await sql`select pg_notify(${this.#opts.notifyChannel}, ${`${accountId} ${version}`})`.execute(
          trx,
        );
      await audit(trx, {
        accountId,
        actor: rec.actor,
        resource: "bundle",
        resourceId: String(version),
        action: rec.action,
        after: { version, hash: bundle.hash, summary, ...rec.auditExtra },
      });
    });
    this.#latest.set(accountId, new StoredBundle(version, hash, gz, body));
    this.#notifier.publish(accountId, version);
    return { version, hash, createdAt: createdAtText, changed: true, summary };
  }

  /** The newest bundle of an account (cached in memory after the first read or publish). */
  async latest(accountId: string): Promise<LatestBundle | undefined> {
    const hit = this.#latest.get(accountId);
    if (hit) return hit;
    const row = await this.#db
      .selectFrom("bundles")
      .select(["version", "hash", "body", "body_gz", "body_gz_b64"])
      .where("account_id", "=", accountId)
      .orderBy("version", "desc")
      .limit(1)
      .executeTakeFirst();
    if (!row) return undefined;
    // Another replica may have published meanwhile; keep the higher version.
    const again = this.#latest.get(accountId);
    if (again && again.version >= row.version) return again;
    const latest = await StoredBundle.fromRow(row);
    this.#latest.set(accountId, latest);
    return latest;
  }

  /** One stored version of an account (cached: pinned edges ask for it on every poll). */
  async bundleAt(accountId: string, version: number): Promise<StoredBundle | undefined> {
    const latest = this.#latest.get(accountId);
    if (latest?.version === version) return latest;
    const key = `${accountId} ${version}`;
    const hit = this.#older.get(key);
    if (hit) {
      this.#older.delete(key);
      this.#older.set(key, hit);
      return hit;
    }
    const row = await this.#db
      .selectFrom("bundles")
      .select(["version", "hash", "body", "body_gz", "body_gz_b64"])
      .where("account_id", "=", accountId)
      .where("version", "=", version)
      .executeTakeFirst();
    if (!row) return undefined;
    const b = await StoredBundle.fromRow(row);
    this.#older.set(key, b);
    if (this.#older.size > OLDER_CACHED) dropOldest(this.#older);
    return b;
  }

  /** The newest version number without loading the body when it is not cached. */
  async latestVersion(accountId: string): Promise<number> {
    const hit = this.#latest.get(accountId);
    if (hit) return hit.version;
    const row = await this.#db
      .selectFrom("bundles")
      .select(sql<number>`max(version)`.as("v"))
      .where("account_id", "=", accountId)
      .executeTakeFirst();
    return row?.v ?? 0;
  }

  /**
   * The bundle an edge should run when it has `after`: the version it is pinned to, else the
   * latest; undefined when that is not newer than `after`. Edge polls call this on every start
   * and wake, so the pin is read from memory when it can be.
   */
  async dueFor(
    accountId: string,
    edgeId: string,
    after: number,
  ): Promise<StoredBundle | undefined> {
    const pin = await this.#pinOf(edgeId);
    const b = pin === null ? await this.latest(accountId) : await this.bundleAt(accountId, pin);
    return b && b.version > after ? b : undefined;
  }

  /** The edge's remembered pin and status, while fresh. */
  #fresh(edgeId: string) {
    const hit = this.#pins.get(edgeId);
    return hit && performance.now() - hit.at < PIN_TTL_MS ? hit : undefined;
  }

  async #pinOf(edgeId: string): Promise<number | null> {
    const hit = this.#fresh(edgeId);
    return hit ? hit.pin : (await this.#readEdge(edgeId)).pin;
  }

  /** An edge's admin status (active, draining, decommissioned), read and kept as its pin is. */
  async edgeStatus(edgeId: string): Promise<string> {
    const status = this.#fresh(edgeId)?.status;
    return status ?? (await this.#readEdge(edgeId)).status;
  }

  async #readEdge(edgeId: string): Promise<{ pin: number | null; status: string }> {
    const epoch = this.#pinEpoch;
    const row = await this.#db
      .selectFrom("edges")
      .select(["pinned_version", "status"])
      .where("id", "=", edgeId)
      .executeTakeFirst();
    const got = { pin: row?.pinned_version ?? null, status: row?.status ?? "decommissioned" };
    if (epoch === this.#pinEpoch) this.#remember(edgeId, got.pin, got.status);
    return got;
  }

  #remember(edgeId: string, pin: number | null, status: string | undefined): void {
    this.#pins.delete(edgeId);
    this.#pins.set(edgeId, { pin, status, at: performance.now() });
    if (this.#pins.size > PINS_CACHED) dropOldest(this.#pins);
  }

  /** This replica committed a pin change: remember it and wake that edge's poll. */
  pinChanged(accountId: string, edgeId: string, pin: number | null, version: number): void {
    this.#pinEpoch++;
    this.#remember(edgeId, pin, this.#pins.get(edgeId)?.status);
    this.#notifier.wakeEdge(accountId, edgeId, version);
  }

  /**
   * This replica committed an edge's status change (drain, activate, decommission): remember it
   * and wake that edge's poll, which answers with the status at once.
   */
  statusChanged(accountId: string, edgeId: string, status: string): void {
    this.#pinEpoch++;
    const hit = this.#pins.get(edgeId);
    if (hit) this.#remember(edgeId, hit.pin, status);
    this.#notifier.wakeEdge(accountId, edgeId, 0);
  }

  /** Another replica changed an edge's pin: read it again on the next poll, and wake it. */
  remotePinChanged(accountId: string, edgeId: string, version: number): void {
    this.#pinEpoch++;
    this.#pins.delete(edgeId);
    this.#notifier.wakeEdge(accountId, edgeId, version);
  }

  /**
   * An edge's pin changed in `trx`: tell the other replicas (NOTIFY, delivered on commit) so a
   * poll of that edge waiting on one of them wakes; `version` is what the edge should run now.
   */
  async notifyPin(trx: Db, accountId: string, edgeId: string, version: number): Promise<void> {
    const channel = this.#opts.notifyChannel;
    if (channel)
      await sql`select pg_notify(${channel}, ${`${accountId} ${version} ${edgeId}`})`.execute(trx);
  }

  /** Another replica published `version`: forget a staler cached bundle and wake waiters. */
  remotePublished(accountId: string, version: number): void {
    const hit = this.#latest.get(accountId);
    if (hit && hit.version >= version) return;
    this.#latest.delete(accountId);
    this.#notifier.publish(accountId, version);
  }

  /** Schedule a debounced auto-publish after a change. */
  changed(accountId: string, actor: string): void {
    const delay = this.#opts.autoPublishDelayMs;
    if (delay <= 0 || this.#closed) return;
    const t = this.#timers.get(accountId);
    if (t) clearTimeout(t);
    const timer = setTimeout(() => {
      this.#timers.delete(accountId);
      this.publish(accountId, `auto:${actor}`).catch((err: unknown) => {
        // A change that leaves the config invalid is not published; the author sees why on
        // POST /config/publish or GET /config/check. Logged, never thrown.
        this.#opts.log.warn(
          { accountId, code: (err as GatehouseError).code },
          `auto-publish skipped: ${(err as Error).message}`,
        );
      });
    }, delay);
    timer.unref();
    this.#timers.set(accountId, timer);
  }

  /** Stop timers and wait for running publishes. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    await Promise.allSettled([...this.#chains.values()]);
  }
}

/** Forget the entry a Map has held longest (its first in insertion order). */
function dropOldest(m: Map<unknown, unknown>): void {
  const oldest = m.keys().next();
  if (!oldest.done) m.delete(oldest.value);
}
