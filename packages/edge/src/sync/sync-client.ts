// The edge's side of config sync: enrol once with a join token (the credential is kept in the
// data directory), then long-poll control for bundles newer than the one applied. A bundle is
// checked (hash), compiled and swapped in by the target edge, then persisted as last-good and
// acknowledged; a bundle that does not compile is reported to control and the running one
// stays. While control is unreachable the edge keeps serving (fail-static), retrying with
// exponential backoff and jitter; a gauge and log lines say how stale its config is.

import { hostname } from "node:os";
import { type ConfigBundle, GatehouseError, verifyBundleHash } from "@gatehouse/contract";
import { Gauge, type Registry } from "prom-client";
import { type EdgeCredential, EdgeState } from "./edge-state.ts";

export interface SyncTarget {
  /** Compile and swap in; throws (ConfigRejectedError) and keeps the old config on failure. */
  apply(bundle: ConfigBundle): Promise<unknown>;
  readonly snapshot: { readonly version: number };
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
  /** Called on every heartbeat answer `draining`: control asks this edge to drain. */
  readonly onDrain?: () => void;
  /** Called on every heartbeat answer `active` (so an edge drained before resumes). */
  readonly onActive?: () => void;
}

const LONG_POLL_CLIENT_TIMEOUT_MS = 45_000; // control answers 304 after 30 s
const REQUEST_TIMEOUT_MS = 10_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
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
  #lastContact = 0;
  #failures = 0;
  #loops: Promise<void>[] = [];
  readonly #lastSync: Gauge;
  readonly #version: Gauge;

  constructor(opts: SyncOptions) {
    this.#o = opts;
    this.#log = opts.log ?? ((l) => console.error(l));
    this.#state = new EdgeState(opts.dataDir);
    this.#after = opts.target.snapshot.version;
    const registry = opts.registry;
    // A timestamp, not an age: staleness is `time() - this` at query time, so the gauge is
    // right even when nothing updates it (which is exactly when control is gone).
    this.#lastSync = metric(
      registry,
      "gatehouse_edge_config_last_sync_timestamp_seconds",
      () =>
        new Gauge({
          name: "gatehouse_edge_config_last_sync_timestamp_seconds",
          help: "Unix time the edge last heard from control; time() minus this is how stale its config may be",
          registers: [registry],
        }),
    );
    this.#version = metric(
      registry,
      "gatehouse_edge_config_version",
      () =>
        new Gauge({
          name: "gatehouse_edge_config_version",
          help: "Version of the config bundle the edge serves",
          registers: [registry],
        }),
    );
    this.#version.set(opts.target.snapshot.version);
  }

  /** Enrol if needed, then run the long-poll and heartbeat loops until stop(). */
  async start(): Promise<void> {
    this.#cred = await this.#state.loadCredential();
    // The credential belongs to control's database, not to its URL: an edge keeps it when
    // control moves to another address.
    if (!this.#cred) this.#cred = await this.#enrol();
    this.#loops = [this.#pollLoop(), this.#heartbeatLoop()];
  }

  get edgeId(): string | undefined {
    return this.#cred?.edgeId;
  }

  /** The edge credential once enrolled (for the query-log shipper). */
  get credential(): string | undefined {
    return this.#cred?.credential;
  }

  /** Milliseconds since the last answer from control (since start when none yet). */
  get staleMs(): number {
    return Date.now() - (this.#lastContact || this.#startedAt);
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.allSettled(this.#loops);
  }

  #base(): string {
    return this.#o.controlUrl.replace(/\/+$/, "");
  }

  async #request(path: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<Response> {
    const signal = AbortSignal.any([
      this.#stop.signal,
      AbortSignal.timeout(init.timeoutMs ?? REQUEST_TIMEOUT_MS),
    ]);
    const headers = new Headers(init.headers);
    if (this.#cred) headers.set("authorization", `Bearer ${this.#cred.credential}`);
    if (init.body !== undefined) headers.set("content-type", "application/json");
    const res = await fetch(`${this.#base()}/api/v1${path}`, { ...init, headers, signal });
    this.#contact();
    return res;
  }

  #contact(): void {
    if (this.#failures > 0)
      this.#log(
        `gatehouse edge: control reachable again after ${this.#failures} failed attempt(s)`,
      );
    this.#failures = 0;
    this.#lastContact = Date.now();
    this.#lastSync.set(this.#lastContact / 1000);
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
          }),
        });
        const body = (await res.json()) as {
          edgeId?: string;
          accountId?: string;
          credential?: string;
          error?: { message: string };
        };
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
        });
        if (res.status === 304) continue;
        if (res.status !== 200) {
          const text = await res.text();
          throw new Error(
            `control answered ${res.status} to the config poll: ${text.slice(0, 200)}`,
          );
        }
        await this.#receive((await res.json()) as ConfigBundle);
      } catch (e) {
        if (this.#stop.signal.aborted) return;
        await this.#backoff(e);
      }
    }
  }

  async #receive(bundle: ConfigBundle): Promise<void> {
    if (typeof bundle?.version !== "number" || bundle.version <= this.#after) return;
    const version = bundle.version;
    if (!(await verifyBundleHash(bundle))) {
      this.#after = version;
      await this.#report(version, false, "bundle hash does not match its content");
      this.#log(`gatehouse edge: refused bundle v${version}: hash mismatch`);
      return;
    }
    try {
      await this.#o.target.apply(bundle);
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
    await this.#state.saveLastGood(bundle);
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

  async #heartbeatLoop(): Promise<void> {
    const interval = this.#o.heartbeatIntervalMs ?? 10_000;
    while (!this.#stop.signal.aborted) {
      try {
        const counters = this.#o.counters ? await this.#o.counters() : {};
        const res = await this.#request("/edge/heartbeat", {
          method: "POST",
          body: JSON.stringify({
            version: this.#o.softwareVersion,
            configVersion: this.#o.target.snapshot.version,
            uptimeSeconds: Math.floor((Date.now() - this.#startedAt) / 1000),
            counters,
          }),
        });
        if (res.ok) {
          const body = (await res.json()) as { status?: string };
          if (body.status === "draining") this.#o.onDrain?.();
          else if (body.status === "active") this.#o.onActive?.();
        } else await res.body?.cancel();
      } catch {
        // The poll loop logs reachability; a missed beat is what control measures.
      }
      await sleep(interval, this.#stop.signal);
    }
  }

  async #backoff(e: unknown): Promise<void> {
    this.#failures++;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(this.#failures - 1, 16));
    const wait = base / 2 + Math.random() * (base / 2); // "equal jitter"
    if (this.#failures === 1 || this.#failures % 10 === 0)
      this.#log(
        `gatehouse edge: control unreachable (${(e as Error).message}); serving config v${this.#o.target.snapshot.version}, ` +
          `${Math.round(this.staleMs / 1000)} s since last contact; retrying`,
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
