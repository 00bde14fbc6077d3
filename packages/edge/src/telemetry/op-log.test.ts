import assert from "node:assert/strict";
import { test } from "node:test";
import { createOpLogger, lineSink, scrubSecrets, withComponent } from "./op-log.ts";

const TOKEN = `ght_0123456789abcdef_${"A".repeat(43)}`;
const CRED = `ghe_fedcba9876543210_${"b".repeat(40)}-_x`;

function capture() {
  const lines: string[] = [];
  return { lines, write: (l: string) => lines.push(l) };
}

test("scrubSecrets removes tokens, credentials, Authorization values and passwords", () => {
  const s = scrubSecrets(
    `token ${TOKEN} cred=${CRED} Authorization: Bearer abc.def Basic dXNlcjpwdw== password=hunter2`,
  );
  assert.doesNotMatch(s, /ght_0123|ghe_fedc|abc\.def|dXNlcjpwdw|hunter2/);
  assert.match(s, /Bearer \[redacted\]/);
  assert.equal(scrubSecrets("applied config v3"), "applied config v3");
});

test("JSON lines carry level, component and message; child bindings add a request id", () => {
  const c = capture();
  const log = createOpLogger({ write: c.write, component: "edge" });
  log.info("applied config v3");
  log.child({ component: "proxy", reqId: "r-17" }).warn(`upstream refused ${TOKEN}`);
  assert.equal(c.lines.length, 2);
  const a = JSON.parse(c.lines[0]!);
  assert.equal(a.level, "info");
  assert.equal(a.component, "edge");
  assert.equal(a.msg, "applied config v3");
  assert.match(a.time, /^\d{4}-\d\d-\d\dT/);
  const b = JSON.parse(c.lines[1]!);
  assert.equal(b.level, "warn");
  assert.equal(b.component, "proxy");
  assert.equal(b.reqId, "r-17");
  assert.equal(b.msg, "upstream refused [redacted]");
});

test("secret-bearing fields are redacted and error messages scrubbed", () => {
  const c = capture();
  const log = createOpLogger({ write: c.write, component: "sync" });
  log.info({ joinToken: "ghj_x", headers: { authorization: `Bearer ${TOKEN}` } }, "enrol");
  log.error(new Error(`enrol failed with ${CRED}`));
  const out = c.lines.join("\n");
  assert.doesNotMatch(out, /ghj_x|ght_0123|ghe_fedc/);
  const e = JSON.parse(c.lines[1]!);
  assert.equal(e.level, "error");
  assert.equal(e.err.message, "enrol failed with [redacted]");
});

test("lineSink drops the prefix and picks the level from the words", () => {
  const c = capture();
  const sink = lineSink(createOpLogger({ write: c.write, component: "sync" }));
  sink("gatehouse edge: applied config v4");
  sink("gatehouse edge: control unreachable (ECONNREFUSED); serving v4");
  sink("gatehouse edge: rejected bundle v5: list too long");
  const [a, b, r] = c.lines.map((l) => JSON.parse(l) as { level: string; msg: string });
  assert.deepEqual(a, { ...a, level: "info", msg: "applied config v4" });
  assert.equal(b!.level, "warn");
  assert.match(b!.msg, /^control unreachable/);
  assert.equal(r!.level, "warn");
});

test("levels below the threshold are not written", () => {
  const c = capture();
  const log = createOpLogger({ write: c.write, level: "warn" });
  log.info("quiet");
  log.warn("loud");
  assert.equal(c.lines.length, 1);
});

test("withComponent switches the component without repeating the key", () => {
  const c = capture();
  const root = createOpLogger({ write: c.write, component: "edge" });
  withComponent(withComponent(root, "sync"), "shipper").info("sent");
  assert.equal(c.lines[0]!.match(/"component"/g)?.length, 1);
  assert.equal(JSON.parse(c.lines[0]!).component, "shipper");
});
