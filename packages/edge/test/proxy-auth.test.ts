// Proxy authentication end to end on loopback: a keep-alive connection repeating its
// credentials runs the KDF once, and a client guessing passwords is cut off with 429 (plain
// HTTP and CONNECT alike) without the KDF running, logged and counted.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { hashSecret } from "@gatehouse/contract/secrets";
import {
  ALLOW_TEST_ORIGINS,
  bundle,
  exchangeResponses,
  type Harness,
  logMark,
  recordAfter,
  startHarness,
} from "./proxy-harness.ts";

/** A password check as slow as on a loaded machine (scrypt competing for two cores). */
const SLOW_KDF_MS = 500;

const basic = (user: string, pw: string) =>
  `Basic ${Buffer.from(`${user}:${pw}`).toString("base64")}`;

describe("proxy authentication", () => {
  let h: Harness;
  let kdfRuns = 0;
  before(async () => {
    h = await startHarness(
      bundle({
        locations: [
          { id: "lo", name: "Loopback", networks: ["127.0.0.0/8"], requireProxyAuth: true },
        ],
        identities: {
          users: [
            { id: "u1", email: "ann@example.com", credentialHash: await hashSecret("s3cret") },
          ],
          devices: [],
        },
        policies: [ALLOW_TEST_ORIGINS],
      }),
      { authFailureLimit: 2, authFailureWindowMs: 60_000 },
    );
    const ids = h.snapshot.identities;
    const verify = ids.verify.bind(ids);
    // Every KDF run takes as long as it can on a loaded machine: longer than any pause a
    // client might take for the end of an answer. The tests must not depend on it being quick.
    ids.verify = async (user, password) => {
      kdfRuns++;
      await new Promise((r) => setTimeout(r, SLOW_KDF_MS));
      return verify(user, password);
    };
  });
  after(() => h.close());

  const get = (auth: string, path = "/") =>
    `GET http://origin.test:${h.origin.port}${path} HTTP/1.1\r\nHost: origin.test\r\nProxy-Authorization: ${auth}\r\n\r\n`;
  // Each exchange ends when its responses have arrived (a KDF on a loaded machine can be slow).
  const send = (data: string, responses = 1) => exchangeResponses(h.port, data, responses);

  test("a keep-alive connection repeating good credentials runs the KDF once", async () => {
    const good = basic("ann@example.com", "s3cret");
    const mark = logMark(h);
    const { responses } = await send(get(good, "/a") + get(good, "/b") + get(good, "/c"), 3);
    assert.deepEqual(
      responses.map((r) => r.status),
      [200, 200, 200],
    );
    assert.equal((await recordAfter(h, mark, 3)).identity, "ann@example.com");
    assert.equal(kdfRuns, 1);
  });

  test("past the failure limit: 429 with Retry-After and no KDF, for HTTP and CONNECT", async () => {
    for (const pw of ["guess-1", "guess-2"]) {
      const r = (await send(get(basic("ann@example.com", pw)))).responses[0]!;
      assert.equal(r.status, 407);
      assert.ok(r.headers.get("proxy-authenticate")?.startsWith("Basic "));
    }
    assert.equal(kdfRuns, 3);

    const mark = logMark(h);
    const limited = (await send(get(basic("ann@example.com", "guess-3")))).responses[0]!;
    assert.equal(limited.status, 429);
    const retry = Number(limited.headers.get("retry-after"));
    assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
    assert.match(limited.body, /too many failed proxy authentications/);
    const rec = await recordAfter(h, mark);
    assert.deepEqual(
      [rec.status, rec.action, rec.reason, rec.identity],
      [429, "refused", "auth_rate_limited", undefined],
    );

    const connect = await send(
      `CONNECT tls.test:443 HTTP/1.1\r\nHost: tls.test:443\r\nProxy-Authorization: ${basic("ann@example.com", "guess-4")}\r\n\r\n`,
    );
    assert.equal(connect.responses[0]?.status, 429);
    assert.ok(connect.responses[0]?.headers.has("retry-after"));
    // Even the right password in a header not verified yet is not checked now...
    const unchecked = await send(get(basic("ANN@example.com", "s3cret")));
    assert.equal(unchecked.responses[0]?.status, 429);
    assert.equal(kdfRuns, 3, "no KDF while the client is limited");
    // ...while credentials verified before keep working.
    const before = logMark(h);
    const known = await send(get(basic("ann@example.com", "s3cret")));
    assert.equal(known.responses[0]?.status, 200);
    await recordAfter(h, before); // the metrics below are counted with each record

    const text = await h.registry.metrics();
    assert.match(text, /gatehouse_proxy_auth_failures_total\{result="rejected"\} 2/);
    assert.match(text, /gatehouse_proxy_auth_failures_total\{result="limited"\} 3/);
    assert.match(text, /gatehouse_proxy_errors_total\{cause="auth_rate_limited"\} 3/);
  });
});
