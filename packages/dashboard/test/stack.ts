// A running Gatehouse for the dashboard's browser tests: control in-process (in-memory PGlite and
// DuckDB) serving the dashboard built from its current source, a fake upstream, a real edge
// (`gatehouse edge --control`, a child process) answering DNS on loopback, and headless Chromium
// signed in with the admin token.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp, DuckDbStore } from "@gatehouse/control";
import type { FastifyInstance } from "fastify";
import type { BrowserContext, Page } from "playwright-core";
import {
  api,
  eventually,
  fakeUpstream,
  freePort,
  queryDns,
  type Running,
  runCli,
} from "../../gatehouse/test/support/processes.ts";
import { dashboardDist, launchBrowser, signIn } from "./browser.ts";

export interface Stack {
  readonly tmp: string;
  readonly app: FastifyInstance;
  readonly base: string;
  readonly call: ReturnType<typeof api>;
  readonly upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  readonly edge: Running;
  readonly dnsPort: number;
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console errors, page errors and requests outside loopback (browser.ts). */
  readonly problems: string[];
  /** The A answers the edge gives for `name` now. */
  resolve(name: string): Promise<unknown[]>;
  /** Poll until the edge answers `name` with `expected` only (a publish takes a moment). */
  answers(name: string, expected: string): Promise<unknown[]>;
  close(): Promise<void>;
}

export interface StackOptions {
  /** The temporary folder's prefix. */
  readonly name: string;
  /** The upstream's answer to every A query. */
  readonly upstreamAnswer: string;
  /** Auto-publish after changes (0: only explicit publishes). */
  readonly autoPublishDelayMs: number;
  /** API calls after the resolver is pointed at the fake upstream, before the publish. */
  readonly setup: readonly [method: string, path: string, body: unknown][];
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const tmp = mkdtempSync(join(tmpdir(), `${opts.name}-`));
  const dist = await dashboardDist(tmp);
  const analytics = await DuckDbStore.open({ path: ":memory:", threads: 1 });
  const app = await buildApp({
    logger: false,
    autoPublishDelayMs: opts.autoPublishDelayMs,
    dashboardDir: dist,
    analytics,
  });
  const base = await app.listen({ host: "127.0.0.1", port: 0 });
  const token = app.gatehouse.adminToken!;
  const call = api(base, token);
  const upstream = await fakeUpstream(opts.upstreamAnswer);
  const setup: [string, string, unknown][] = [
    [
      "PUT",
      "/resolver",
      // The fake upstream signs nothing.
      {
        upstreams: [{ address: `udp://127.0.0.1:${upstream.port}` }],
        dnssec: { validate: false },
      },
    ],
    ...opts.setup,
    ["POST", "/config/publish", {}],
  ];
  for (const [method, path, body] of setup) {
    const r = await call(method, path, body);
    assert.ok(r.status < 300, `${method} ${path}: ${JSON.stringify(r.body)}`);
  }
  const join_ = await call<{ joinToken: string }>("POST", "/edges/join-tokens", {});
  const dnsPort = await freePort();
  const edge = runCli([
    "edge",
    "--control",
    base,
    "--data-dir",
    join(tmp, "edge"),
    "--dns",
    `127.0.0.1:${dnsPort}`,
    "--proxy",
    `127.0.0.1:${await freePort()}`,
    "--join-token",
    join_.body.joinToken,
  ]);
  await edge.waitFor(/following \S+ as \S+/);
  const { context, page, problems } = await launchBrowser(join(tmp, "profile"));
  await signIn(page, base, token);
  const resolve = async (name: string) =>
    (await queryDns(dnsPort, name)).answers.filter((a) => a.type === "A").map((a) => a.data);
  return {
    tmp,
    app,
    base,
    call,
    upstream,
    edge,
    dnsPort,
    context,
    page,
    problems,
    resolve,
    answers: (name, expected) =>
      eventually(
        () => resolve(name),
        (a) => a.length === 1 && a[0] === expected,
        10_000,
      ),
    async close() {
      await context.close();
      await edge.stop();
      await app.close();
      await analytics.close();
      await upstream.close();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}
