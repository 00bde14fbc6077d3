// The edge's side of config sync: enrol once with a join token (the credential is kept in the
// data directory), then long-poll control for bundles newer than the one applied. A bundle is
// checked (hash), compiled and swapped in by the target edge, then persisted as last-good and
// acknowledged; a bundle that does not compile is reported to control and the running one
// stays. While control is unreachable or refuses the edge (401, 429, 5xx) the edge keeps serving
// (fail-static), retrying with exponential backoff and jitter that only a successful sync resets;
// a gauge and log lines say how stale its config is. Control's 410 GH_ERR_EDGE_DECOMMISSIONED is
// final: the edge stops polling and heartbeating, keeps a marker so a restart does not serve,
// and tells its owner (onDecommissioned), who stops serving after a grace.

import { mkdir, open, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname } from "node:path";
import type {
  ConfigBundle,
  EdgeEndpoints,
  EdgeIntermediateIssued,
  TlsInspectionSettings,
} from "@gatehouse/contract";
import {
  EDGE_FOLLOWING_HEADER,
  EDGE_STATUS_HEADER,
  EDGE_VERSION_HEADER,
} from "@gatehouse/contract/edge-version";
import { GatehouseError } from "@gatehouse/contract/errors";
import { releaseMemory } from "../memory-release.ts";
import { Counter, Gauge, type Registry } from "../telemetry/prom-client.ts";
import { registryMetric } from "../telemetry/registry-metric.ts";
import { EdgeIntermediate } from "../tls/edge-intermediate.ts";
import type { LeafMinter } from "../tls/leaf-minter.ts";
import {
  BundleParseMemoryError,
  DEFAULT_MAX_BUNDLE_BYTES,
  type PackedLists,
} from "./bundle-parse.ts";
import { type Allocate, type ParsedBundleFile, parseBundleFile } from "./bundle-stream.ts";
import { type EdgeCredential, EdgeState } from "./edge-state.ts";
import { httpGet } from "./http-get.ts";

export interface SyncTarget {
  /**
   * Compile and swap in; throws (ConfigRejectedError) and keeps the old config on failure.
   * `packed`: the domain lists' items, "\n"-joined (the bundle's arrays for them are empty);
   * `file`: the bundle's JSON as control sent it (hash checked), on disk until apply returns.
   */
  apply(bundle: ConfigBundle, packed: PackedLists, file: string): Promise<unknown>;
  readonly snapshot: {
    readonly version: number;
    readonly bundle?: { readonly tls?: TlsInspectionSettings | undefined };
  };
}

export interface SyncOptions {
  readonly controlUrl: string;
  readonly dataDir: string;
  readonly target: SyncTarget;
  /** Needed only for the first start (no credential in the data directory yet). */
  readonly joinToken?: string;
  /** Name shown in control; default the host name. */
  readonly name?: string;
  readonly softwareVersion: string;
  readonly registry: Registry;
  readonly counters?: () => Promise<Record<string, number>>;
  readonly log?: (line: string) => void;
  readonly heartbeatIntervalMs?: number;
  /**
   * Called on every heartbeat answer `draining`, and at once when control wakes the config poll
   * to say so (an admin drained the edge): control asks this edge to drain.
   */
  readonly onDrain?: () => void;
  /** Called on every heartbeat answer `active`, and on such a wake (an edge drained before resumes). */
  readonly onActive?: () => void;
  /** What the edge's listeners are doing, for the heartbeat: serving, draining or drained. */
  readonly serving?: () => "serving" | "draining" | "drained";
  /**
   * What the edge serves (listeners, certificate, public name), for the heartbeat: control's
   * Connect page builds a location's addresses from it.
   */
  readonly endpoints?: () => EdgeEndpoints | undefined;
  /**
   * Called once when control answers that this edge is decommissioned: polling and heartbeats
   * have stopped; the owner stops serving (after its grace).
   */
  readonly onDecommissioned?: (message: string) => void;
  /**
   * The proxy's leaf minter: when a bundle says a location inspects TLS, this edge gets its
   * intermediate CA signed by control and hands it to the minter (tls/edge-intermediate.ts).
   */
  readonly minter?: LeafMinter;
  /** Retry delays: the first failure waits about minMs, each next one twice as long, up to maxMs. */
  readonly backoff?: { readonly minMs: number; readonly maxMs: number };
  /** The largest config poll answer read, in bytes (edge.limits.maxBundleBytes). */
  readonly maxBundleBytes?: number;
  /** Heap limit of the thread parsing a large answer, MiB (edge.limits.bundleParseMemoryMb). */
  readonly parseMemoryMb?: number;
  /**
   * Where a bundle's packed list items are decoded (bundle-stream.ts): e.g. SharedArrayBuffers
   * for worker threads, whose shared lists then adopt them without a copy.
   */
  readonly allocate?: Allocate;
}

const LONG_POLL_CLIENT_TIMEOUT_MS = 45_000; // control answers 304 after 30 s
const REQUEST_TIMEOUT_MS = 10_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** Longest Retry-After honoured (a larger one from a confused server is cut to this). */
const RETRY_AFTER_MAX_MS = 300_000;

/** Why a sync attempt failed: the `reason` label of gatehouse_edge_sync_failures_total. */
type SyncFailure =
  | "too_old"
  | "network"
  | "unauthorized"
  | "rate_limited"
  | "server_error"
  | "bad_answer"
  | "too_large"
  | "parser_out_of_memory";

/** A refused sync: control answered, but not with a bundle or "nothing newer". */
class SyncRefused extends Error {
  readonly reason: SyncFailure;
  readonly retryAfterMs: number;
  constructor(reason: SyncFailure, message: string, retryAfterMs = 0) {
    super(message);
    this.reason = reason;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Retry-After in seconds (RFC 9110 §10.2.3) as milliseconds, capped; 0 when absent or a date. */
function retryAfterMs(res: Response): number {
  const s = Number(res.headers.get("retry-after"));
  return Number.isFinite(s) && s > 0 ? Math.min(s * 1000, RETRY_AFTER_MAX_MS) : 0;
}

/**
 * A response body written to `path` (0600) as it arrives, never held whole; refused (SyncRefused
 * too_large, the partial file removed) past `max` bytes: by its Content-Length before reading,
 * else as soon as what arrived passes it.
 */
async function downloadBodyLimited(res: Response, max: number, path: string): Promise<number> {
  const tooLarge = (n: string) =>
    new SyncRefused(
      "too_large",
      `the config poll's answer is ${n} bytes, more than this edge accepts (edge.limits.maxBundleBytes = ${max}); not read`,
    );
  const declared = Number(res.headers.get("content-length") ?? Number.NaN);
  if (declared > max) {
    await res.body?.cancel();
    throw tooLarge(String(declared));
  }
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(path, "w", 0o600);
  let ok = false;
  let size = 0;
  try {
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > max) {
          await reader.cancel();
          throw tooLarge(`over ${max}`);
        }
        await fh.write(value);
      }
    }
    // On disk before it may become the last good bundle (renamed, not copied).
    await fh.sync();
    ok = true;
  } finally {
    await fh.close();
    if (!ok) await rm(path, { force: true });
  }
  return size;
}

/**
 * A poll answer this large is followed by a full collection before it is read back: its socket
 * reads (blocks of at most 64 KiB from malloc's heap, each held by a Buffer V8 has no reason to
 * collect soon: they are small objects on its heap) would otherwise still be allocated while the
 * new lists are built beside the old ones, and the swap's peak would carry the whole body too.
 * Collected, their space in malloc's heap is where the new lists' buffers are allocated.
 */
const COLLECT_AFTER_DOWNLOAD_BYTES = 8 * 1024 * 1024;
/** From that collection to malloc_trim (V8 frees the Buffers' memory on a background thread). */
const RELEASE_TRIM_AFTER_MS = 200;

/** Control's final answer to a decommissioned edge. */
class Decommissioned extends Error {}

/** The delay before retry number `failures` (1-based): exponential, "equal jitter", capped. */
export function backoffDelay(
  failures: number,
  minMs: number,
  maxMs: number,
  random: number,
): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(failures - 1, 30));
  return base / 2 + random * (base / 2);
}

/** The sync client's metrics on `registry` (created once per registry). */
export function syncMetrics(registry: Registry): {
  readonly lastSync: Gauge;
  readonly failures: Counter<"reason">;
  readonly backoff: Gauge;
  readonly decommissioned: Gauge;
  readonly version: Gauge;
} {
  return {
    // A timestamp, not an age: staleness is `time() - this` at query time, so the gauge is
    // right even when nothing updates it (which is exactly when control is gone).
    lastSync: registryMetric(
      registry,
      "gatehouse_edge_config_last_sync_timestamp_seconds",
      () =>
        new Gauge({
          name: "gatehouse_edge_config_last_sync_timestamp_seconds",
          help: "Unix time of the edge's last successful config sync (control answered a poll with a bundle or with 'nothing newer'); 0 before the first; time() minus this is how stale its config may be",
          registers: [registry],
        }),
    ),
    failures: registryMetric(
      registry,
      "gatehouse_edge_sync_failures_total",
      () =>
        new Counter({
          name: "gatehouse_edge_sync_failures_total",
          help: "Failed config polls by reason: network, unauthorized (401/403), rate_limited (429), server_error (5xx), bad_answer (anything else), too_large (answer over edge.limits.maxBundleBytes), parser_out_of_memory (parsing it outgrew edge.limits.bundleParseMemoryMb), too_old (control's minimumEdgeVersion is newer than this edge: upgrade it), decommissioned (final)",
          labelNames: ["reason"] as const,
          registers: [registry],
        }),
    ),
    backoff: registryMetric(
      registry,
      "gatehouse_edge_sync_backoff_seconds",
      () =>
        new Gauge({
          name: "gatehouse_edge_sync_backoff_seconds",
          help: "Delay before the edge's next config poll after consecutive failures; 0 while syncing normally",
          registers: [registry],
        }),
    ),
    decommissioned: registryMetric(
      registry,
      "gatehouse_edge_decommissioned",
      () =>
        new Gauge({
          name: "gatehouse_edge_decommissioned",
          help: "1 once control answered that this edge is decommissioned (it stops syncing and, after its grace, serving)",
          registers: [registry],
        }),
    ),
    version: registryMetric(
      registry,
      "gatehouse_edge_config_version",
      () =>
        new Gauge({
          name: "gatehouse_edge_config_version",
          help: "Version of the config bundle the edge serves",
          registers: [registry],
        }),
    ),
  };
}

export class SyncClient {
  readonly #o: SyncOptions;
  readonly #log: (line: string) => void;
  readonly #stop = new AbortController();
  readonly #startedAt = Date.now();
  readonly #state: EdgeState;
  #cred: EdgeCredential | undefined;
  /** Newest version seen: applied, or rejected (so a bad bundle is not fetched in a loop). */
  #after = 0;
  #lastSuccess = 0;
  #failures = 0;
  #decommissioned = false;
  #loops: Promise<void>[] = [];
  /** Ends the heartbeat loop's current wait (beatNow). */
  #kick: (() => void) | undefined;
  /** beatNow() came while a heartbeat was in flight: send the next one without waiting. */
  #kickPending = false;
  /** The admin status last passed on (onDrain / onActive); every poll tells control. */
  #following: "active" | "draining" = "active";
  readonly #intermediate: EdgeIntermediate | undefined;
  readonly #lastSync: Gauge;
  readonly #version: Gauge;
  readonly #failuresTotal: Counter<"reason">;
  readonly #backoffGauge: Gauge;
  readonly #decommissionedGauge: Gauge;

  constructor(opts: SyncOptions) {
    this.#o = opts;
    this.#log = opts.log ?? ((l) => console.error(l));
    this.#state = new EdgeState(opts.dataDir);
    this.#after = opts.target.snapshot.version;
    const m = syncMetrics(opts.registry);
    this.#lastSync = m.lastSync;
    this.#failuresTotal = m.failures;
    this.#backoffGauge = m.backoff;
    this.#decommissionedGauge = m.decommissioned;
    this.#version = m.version;
    this.#version.set(opts.target.snapshot.version);
    this.#intermediate = opts.minter
      ? new EdgeIntermediate({
          dataDir: opts.dataDir,
          minter: opts.minter,
          log: this.#log,
          request: (csr) => this.#signIntermediate(csr),
        })
      : undefined;
  }

  /** POST /edge/tls/intermediate; a 410 decommissions this edge as on every edge route. */
  async #signIntermediate(csr: string): Promise<EdgeIntermediateIssued> {
    const res = await this.#request("/edge/tls/intermediate", {
      method: "POST",
      body: JSON.stringify({ csr }),
    });
    if (res.status === 200) return (await res.json()) as EdgeIntermediateIssued;
    const refused = await this.#refusal(res, "intermediate CA request");
    if (refused instanceof Decommissioned) void this.#decommission(refused.message);
    throw refused;
  }

  /** Enrol if needed, then run the long-poll and heartbeat loops until stop(). */
  async start(): Promise<void> {
    const decommissioned = await this.#state.decommissionedError();
    if (decommissioned) throw decommissioned;
    this.#cred = await this.#state.loadCredential();
    // The credential belongs to control's database, not to its URL: an edge keeps it when
    // control moves to another address.
    if (!this.#cred) this.#cred = await this.#enrol();
    this.#loops = [this.#pollLoop(), this.#heartbeatLoop()];
    // The config served from disk may inspect: its intermediate (on disk, or signed now).
    void this.#intermediate?.onBundle(this.#o.target.snapshot.bundle?.tls);
  }

  get edgeId(): string | undefined {
    return this.#cred?.edgeId;
  }

  /** The edge credential once enrolled (for the query-log shipper). */
  get credential(): string | undefined {
    return this.#cred?.credential;
  }

  /** Milliseconds since the last successful sync (since start when none yet). */
  get staleMs(): number {
    return Date.now() - (this.#lastSuccess || this.#startedAt);
  }

  /** Failed attempts since the last successful sync. */
  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** True once control answered that this edge is decommissioned. */
  get decommissioned(): boolean {
    return this.#decommissioned;
  }

  /** Pass control's status of this edge on to the owner (heartbeat answer or woken poll). */
  #follow(status: unknown): void {
    if (status === "draining") {
      this.#following = "draining";
      this.#o.onDrain?.();
    } else if (status === "active") {
      this.#following = "active";
      this.#o.onActive?.();
    }
  }

  /** Send a heartbeat now instead of at the next interval (the edge finished draining). */
  beatNow(): void {
    if (this.#kick) this.#kick();
    else this.#kickPending = true;
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    this.#intermediate?.stop();
    await Promise.allSettled(this.#loops);
  }

  #base(): string {
    return this.#o.controlUrl.replace(/\/+$/, "");
  }

  async #request(
    path: string,
    init: RequestInit & { timeoutMs?: number; nodeHttp?: boolean } = {},
  ): Promise<Response> {
    const signal = AbortSignal.any([
      this.#stop.signal,
      AbortSignal.timeout(init.timeoutMs ?? REQUEST_TIMEOUT_MS),
    ]);
    const headers = new Headers(init.headers);
    headers.set(EDGE_VERSION_HEADER, this.#o.softwareVersion);
    if (this.#cred) headers.set("authorization", `Bearer ${this.#cred.credential}`);
    if (init.body !== undefined) headers.set("content-type", "application/json");
    const url = `${this.#base()}/api/v1${path}`;
    // The config poll's answer (a bundle) through node:http: fetch keeps memory (http-get.ts).
    if (init.nodeHttp) return httpGet(url, headers, signal);
    return fetch(url, { ...init, headers, signal });
  }

  /** A poll answered with a bundle or "nothing newer": the only thing that resets the backoff. */
  #synced(): void {
    if (this.#failures > 0)
      this.#log(
        `gatehouse edge: config sync works again after ${this.#failures} failed attempt(s)`,
      );
    this.#failures = 0;
    this.#backoffGauge.set(0);
    this.#lastSuccess = Date.now();
    this.#lastSync.set(this.#lastSuccess / 1000);
  }

  /** Turn a refusal into the error the loops act on (410 decommissioned is final). */
  async #refusal(res: Response, what: string): Promise<Error> {
    const text = (await res.text()).slice(0, 2000);
    let code: string | undefined;
    let message = text.slice(0, 200);
    try {
      const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      if (typeof body.error?.code === "string") code = body.error.code;
      if (typeof body.error?.message === "string") message = body.error.message.slice(0, 500);
    } catch {
      // Not our error body (a proxy's page): the status says enough.
    }
    if (res.status === 410 && code === "GH_ERR_EDGE_DECOMMISSIONED")
      return new Decommissioned(message);
    const reason: SyncFailure =
      code === "GH_ERR_EDGE_TOO_OLD"
        ? "too_old"
        : res.status === 401 || res.status === 403
          ? "unauthorized"
          : res.status === 429
            ? "rate_limited"
            : res.status >= 500
              ? "server_error"
              : "bad_answer";
    return new SyncRefused(
      reason,
      `control answered ${res.status}${code ? ` ${code}` : ""} to the ${what}: ${message}`,
      retryAfterMs(res),
    );
  }

  /** Control says this edge is decommissioned: stop syncing for good, keep a marker, tell the owner. */
  async #decommission(message: string): Promise<void> {
    if (this.#decommissioned) return;
    this.#decommissioned = true;
    this.#failuresTotal.inc({ reason: "decommissioned" });
    this.#decommissionedGauge.set(1);
    this.#stop.abort();
    this.#intermediate?.stop();
    this.#log(
      `gatehouse edge: DECOMMISSIONED by control (${message}); stopped polling and heartbeating; ` +
        `this edge will not serve after its grace, nor after a restart`,
    );
    try {
      await this.#state.saveDecommissioned({
        edgeId: this.#cred?.edgeId ?? "",
        at: new Date().toISOString(),
        message,
      });
    } catch (e) {
      this.#log(
        `gatehouse edge: could not write ${this.#state.decommissionedPath}: ${(e as Error).message}`,
      );
    }
    this.#o.onDecommissioned?.(message);
  }

  async #enrol(): Promise<EdgeCredential> {
    const joinToken = this.#o.joinToken;
    if (!joinToken)
      throw new Error(
        `no edge credential in ${this.#state.credentialPath}: pass --join-token to enrol this edge`,
      );
    for (;;) {
      try {
        const res = await this.#request("/edge/enroll", {
          method: "POST",
          body: JSON.stringify({
            joinToken,
            name: this.#o.name ?? hostname().replace(/[^A-Za-z0-9_.:-]/g, "-"),
            version: this.#o.softwareVersion,
          }),
        });
        const body = (await res.json()) as {
          edgeId?: string;
          accountId?: string;
          credential?: string;
          error?: { code?: string; message: string };
        };
        if (body.error?.code === "GH_ERR_EDGE_TOO_OLD") {
          this.#failuresTotal.inc({ reason: "too_old" });
          this.#log(`gatehouse edge: ERROR: control refuses this edge: ${body.error.message}`);
        }
        if (res.status === 429 || res.status >= 500)
          throw new SyncRefused(
            res.status === 429 ? "rate_limited" : "server_error",
            `enrolment answered ${res.status}: ${body.error?.message ?? ""}`,
            retryAfterMs(res),
          );
        if (res.status !== 201 || !body.credential || !body.edgeId || !body.accountId)
          throw new GatehouseError(
            "GH_ERR_UNAUTHENTICATED",
            `enrolment refused: ${body.error?.message ?? res.status}`,
          );
        const cred: EdgeCredential = {
          controlUrl: this.#base(),
          edgeId: body.edgeId,
          accountId: body.accountId,
          credential: body.credential,
        };
        await this.#state.saveCredential(cred);
        this.#log(
          `gatehouse edge: enrolled as ${cred.edgeId}; credential kept in ${this.#state.credentialPath}`,
        );
        return cred;
      } catch (e) {
        // A refused token will not become valid by retrying; an unreachable control may.
        if (e instanceof GatehouseError || this.#stop.signal.aborted) throw e;
        await this.#backoff(e);
      }
    }
  }

  async #pollLoop(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      try {
        const res = await this.#request(`/edge/config?after=${this.#after}`, {
          timeoutMs: LONG_POLL_CLIENT_TIMEOUT_MS,
          headers: { [EDGE_FOLLOWING_HEADER]: this.#following },
          nodeHttp: true,
        });
        if (res.status === 304) {
          this.#synced();
          // Woken early by an admin's drain or activate: act now, not at the next heartbeat.
          this.#follow(res.headers.get(EDGE_STATUS_HEADER));
          continue;
        }
        if (res.status !== 200) throw await this.#refusal(res, "config poll");
        // To disk as it arrives, then read from there in two streaming passes (bundle-stream.ts):
        // neither the body nor a parse of it is ever held whole.
        const file = this.#state.incomingPath;
        const bytes = await downloadBodyLimited(
          res,
          this.#o.maxBundleBytes ?? DEFAULT_MAX_BUNDLE_BYTES,
          file,
        );
        if (bytes >= COLLECT_AFTER_DOWNLOAD_BYTES) await releaseMemory(true, RELEASE_TRIM_AFTER_MS);
        await this.#applyFile(file);
      } catch (e) {
        if (e instanceof Decommissioned) return this.#decommission(e.message);
        if (this.#stop.signal.aborted) return;
        // A bundle this edge will never take: said every time, not only on every tenth failure.
        if (
          e instanceof SyncRefused &&
          (e.reason === "too_large" ||
            e.reason === "parser_out_of_memory" ||
            e.reason === "too_old")
        )
          this.#log(
            `gatehouse edge: ERROR: ${e.message}; keeping config v${this.#o.target.snapshot.version}`,
          );
        await this.#backoff(e);
      }
    }
  }

  /**
   * Read the answer on disk back (bundle-stream.ts) and apply it. A method of its own, not inline
   * in the poll loop: what it parsed (the packed items, tens of MB for a large list) is referenced
   * from this call's frame only. Held by the loop's (an async function's locals stay in its
   * context until overwritten), it stayed alive through the next long poll wherever the compile
   * copied the names out of it rather than adopting it (a mixed list: +46 MB per million lines).
   */
  async #applyFile(file: string): Promise<void> {
    let parsed: ParsedBundleFile;
    try {
      parsed = await parseBundleFile(file, {
        ...(this.#o.parseMemoryMb !== undefined ? { memoryMb: this.#o.parseMemoryMb } : {}),
        ...(this.#o.allocate ? { allocate: this.#o.allocate } : {}),
      });
    } catch (e) {
      await rm(file, { force: true });
      if (e instanceof BundleParseMemoryError)
        throw new SyncRefused(
          "parser_out_of_memory",
          `refused the config poll's answer: ${e.message}`,
        );
      throw new SyncRefused(
        "bad_answer",
        `the config poll's answer is not JSON: ${(e as Error).message}`,
      );
    }
    this.#synced();
    try {
      await this.#receive(parsed, file);
    } finally {
      // Applied: it became the last good bundle; refused: it goes.
      await rm(file, { force: true });
    }
  }

  async #receive({ bundle, packed, hashOk }: ParsedBundleFile, file: string): Promise<void> {
    if (typeof bundle?.version !== "number" || bundle.version <= this.#after) return;
    const version = bundle.version;
    if (!hashOk) {
      this.#after = version;
      await this.#report(version, false, "bundle hash does not match its content");
      this.#log(`gatehouse edge: refused bundle v${version}: hash mismatch`);
      return;
    }
    try {
      await this.#o.target.apply(bundle, packed, file);
    } catch (e) {
      this.#after = version;
      const problems =
        e instanceof GatehouseError && Array.isArray(e.details)
          ? (e.details as { path: string; message: string }[]).slice(0, 50).map((p) => ({
              path: String(p.path).slice(0, 200),
              message: String(p.message).slice(0, 2000),
            }))
          : undefined;
      this.#log(
        `gatehouse edge: rejected bundle v${version}, keeping v${this.#o.target.snapshot.version}: ${(e as Error).message}`,
      );
      await this.#report(version, false, (e as Error).message, problems);
      return;
    }
    this.#after = version;
    this.#version.set(version);
    void this.#intermediate?.onBundle(bundle.tls);
    // The body as received, hash checked: the file itself, renamed into place.
    await this.#state.adoptLastGood(file);
    this.#log(`gatehouse edge: applied config v${version}`);
    await this.#report(version, true);
  }

  async #report(
    version: number,
    ok: boolean,
    message?: string,
    problems?: { path: string; message: string }[],
  ): Promise<void> {
    try {
      const error = ok
        ? undefined
        : { message: (message ?? "rejected").slice(0, 4000), ...(problems ? { problems } : {}) };
      await this.#request("/edge/config-status", {
        method: "POST",
        body: JSON.stringify({ version, ok, ...(error ? { error } : {}) }),
      });
    } catch (e) {
      this.#log(`gatehouse edge: could not report config status: ${(e as Error).message}`);
    }
  }

  /** Control refused a heartbeat carrying endpoints (400): it is older than this edge. */
  #endpointsRefused = false;

  /** This edge's endpoints, or none when they cannot be told (said once). */
  #endpoints(): EdgeEndpoints | undefined {
    try {
      return this.#o.endpoints?.();
    } catch (e) {
      if (!this.#endpointsFailed)
        this.#log(`gatehouse edge: cannot tell control its endpoints: ${(e as Error).message}`);
      this.#endpointsFailed = true;
      return undefined;
    }
  }
  #endpointsFailed = false;

  async #heartbeatLoop(): Promise<void> {
    const interval = this.#o.heartbeatIntervalMs ?? 10_000;
    while (!this.#stop.signal.aborted) {
      this.#kickPending = false;
      try {
        const counters = this.#o.counters ? await this.#o.counters() : {};
        const endpoints = this.#endpointsRefused ? undefined : this.#endpoints();
        const res = await this.#request("/edge/heartbeat", {
          method: "POST",
          body: JSON.stringify({
            version: this.#o.softwareVersion,
            configVersion: this.#o.target.snapshot.version,
            uptimeSeconds: Math.floor((Date.now() - this.#startedAt) / 1000),
            counters,
            ...(this.#o.serving ? { serving: this.#o.serving() } : {}),
            ...(endpoints ? { endpoints } : {}),
          }),
        });
        if (res.ok) {
          this.#follow(((await res.json()) as { status?: string }).status);
        } else if (res.status === 400 && endpoints) {
          // A control older than this edge refuses a heartbeat with fields it does not know:
          // beat again at once without them, and leave them out from now on.
          const refused = await this.#refusal(res, "heartbeat");
          this.#endpointsRefused = true;
          this.#log(
            `gatehouse edge: control refused the heartbeat's endpoints (${refused.message}); heartbeats leave them out (control's Connect page will not show this edge)`,
          );
          this.#kickPending = true;
        } else {
          const refused = await this.#refusal(res, "heartbeat");
          if (refused instanceof Decommissioned) return this.#decommission(refused.message);
        }
      } catch {
        // The poll loop logs reachability; a missed beat is what control measures.
      }
      if (this.#kickPending) continue;
      const kicked = new AbortController();
      this.#kick = () => kicked.abort();
      await sleep(interval, AbortSignal.any([this.#stop.signal, kicked.signal]));
      this.#kick = undefined;
    }
  }

  async #backoff(e: unknown): Promise<void> {
    this.#failures++;
    this.#failuresTotal.inc({ reason: e instanceof SyncRefused ? e.reason : "network" });
    const min = this.#o.backoff?.minMs ?? BACKOFF_MIN_MS;
    const max = this.#o.backoff?.maxMs ?? BACKOFF_MAX_MS;
    // A Retry-After (429, 503) is a floor: never sooner than control asked.
    const wait = Math.max(
      backoffDelay(this.#failures, min, max, Math.random()),
      e instanceof SyncRefused ? e.retryAfterMs : 0,
    );
    this.#backoffGauge.set(wait / 1000);
    if (this.#failures === 1 || this.#failures % 10 === 0)
      this.#log(
        `gatehouse edge: ${e instanceof SyncRefused ? "control refused the config sync" : "control unreachable"} (${(e as Error).message}); serving config v${this.#o.target.snapshot.version}, ` +
          `${Math.round(this.staleMs / 1000)} s since the last successful sync; ` +
          `attempt ${this.#failures}, retrying in ${(wait / 1000).toFixed(1)} s`,
      );
    await sleep(wait, this.#stop.signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
