// The runner: stages that answer at once, later (a promise) or WAIT (woken, then resumed), a
// failure anywhere answered by fail.ts, and record run once, last, whatever happened.

import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { test } from "node:test";
import { EdgeError } from "@gatehouse/contract/errors";
import { Registry } from "prom-client";
import { compileSnapshot } from "../snapshot.ts";
import {
  type Exchange,
  newExchange,
  type Outcome,
  type Stage,
  type Step,
  WAIT,
} from "./exchange.ts";
import { ClientRequest } from "./http1/message.ts";
import { parseRequestHead } from "./http1/syntax.ts";
import { type PipelineDeps, runner } from "./pipeline.ts";
import { proxyMetrics } from "./proxy-metrics.ts";

function exchange(): Exchange {
  const buf = Buffer.from("GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", "latin1");
  const parsed = parseRequestHead(buf, buf.length, { maxHeadBytes: 1 << 16, maxHeaderCount: 100 });
  let destroyed = false;
  const socket = {
    remoteAddress: "10.1.2.3",
    remotePort: 40000,
    destroy() {
      destroyed = true;
    },
    get destroyed() {
      return destroyed;
    },
  } as unknown as Socket;
  return newExchange(
    compileSnapshot({
      schemaVersion: 1,
      version: 1,
      resolver: { upstreams: [] },
      locations: [],
      lists: [],
      policies: [],
    }),
    "http",
    new ClientRequest(parsed, socket, { attach() {}, resume() {} }, false),
    undefined,
    socket,
  );
}

const deps = { metrics: proxyMetrics(new Registry()) } as unknown as PipelineDeps;

/** A pipeline of `stages` whose respond and record stages write what they saw into `log`. */
function pipeline(stages: Stage[], log: string[], respond?: Stage) {
  return runner(
    {
      name: "test",
      stages,
      respond: respond ?? {
        name: "respond",
        run(ex: Exchange): Outcome {
          log.push(`respond ${ex.answer?.status ?? "origin"}`);
          return "next";
        },
      },
      record: {
        name: "record",
        run(ex: Exchange): Outcome {
          log.push(`record ${ex.reason ?? "-"}`);
          return "next";
        },
      },
    },
    deps,
  );
}

/** A stage that notes its name in `log` and goes on. */
function noting(log: string[], name: string): Stage {
  return {
    name,
    run(): Outcome {
      log.push(name);
      return "next";
    },
  };
}

/** A stage that waits until `wake` is called, then resumes with `then` (or throws it). */
function waiting(log: string[], then: () => Outcome) {
  let waiter: Exchange | undefined;
  const stage: Stage = {
    name: "waits",
    run(ex: Exchange): Step {
      waiter = ex;
      log.push("wait");
      return WAIT;
    },
    resume(): Outcome {
      log.push("resume");
      return then();
    },
  };
  return { stage, wake: () => waiter?.wake() };
}

test("a stage that waits is resumed once woken, never inside the waker; record runs last", async () => {
  const log: string[] = [];
  const w = waiting(log, () => "next");
  const p = pipeline([w.stage, noting(log, "after")], log);
  const done = p.run(exchange());
  assert.deepEqual(log, ["wait"]);
  w.wake();
  assert.deepEqual(log, ["wait"], "not resumed inside wake()");
  await done;
  assert.deepEqual(log, ["wait", "resume", "after", "respond origin", "record -"]);
});

test("a resume that throws is a failure: fail.ts answers it, later stages are skipped", async () => {
  const log: string[] = [];
  const w = waiting(log, () => {
    throw new EdgeError("upstream_failed", "origin: reset");
  });
  const done = pipeline([w.stage, noting(log, "after")], log).run(exchange());
  w.wake();
  await done;
  assert.deepEqual(log, ["wait", "resume", "respond 502", "record upstream_failed"]);
});

test("promises and WAIT mix; an answer skips to respond; drop closes without one", async () => {
  const log: string[] = [];
  const later: Stage = {
    name: "later",
    async run(): Promise<Outcome> {
      log.push("later");
      return "next";
    },
  };
  const w = waiting(log, () => "respond");
  const never = noting(log, "never");
  const ex = exchange();
  const done = pipeline([later, w.stage, never], log).run(ex);
  await new Promise((r) => setImmediate(r));
  ex.answer = { status: 403, reason: "policy", detail: "no" };
  w.wake();
  await done;
  assert.deepEqual(log, ["later", "wait", "resume", "respond 403", "record -"]);

  const dropLog: string[] = [];
  const dropped = exchange();
  await pipeline([{ name: "drop", run: () => "drop" }], dropLog).run(dropped);
  assert.deepEqual(dropLog, ["record -"]);
  assert.equal(dropped.socket.destroyed, true);
});

test("a respond that waits, and one that fails twice: the socket is closed, record still runs", async () => {
  const log: string[] = [];
  let waiter: Exchange | undefined;
  const respond: Stage = {
    name: "respond",
    run(ex: Exchange): Step {
      waiter = ex;
      return WAIT;
    },
    resume(): Outcome {
      log.push("relayed");
      return "next";
    },
  };
  const done = pipeline([], log, respond).run(exchange());
  waiter?.resumeNow();
  await done;
  assert.deepEqual(log, ["relayed", "record -"]);

  const failing: Stage = {
    name: "respond",
    run(): Outcome {
      throw new Error("socket gone");
    },
  };
  const ex = exchange();
  const failLog: string[] = [];
  await pipeline([], failLog, failing).run(ex);
  assert.deepEqual(failLog, ["record internal"]);
  assert.equal(ex.socket.destroyed, true);
  assert.equal(ex.answer?.status, 500, "the first failure was answered as internal");
});
