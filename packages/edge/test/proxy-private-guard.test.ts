// The private-address guard (issue 13): an allow policy lifts it only through its explicit
// settings.allowPrivateDestinations, for the addresses listed there. The three reported bypasses
// (a URL test, a domain allow-list with a name resolving to loopback, a CONNECT "ne" test) are
// refused; the opt-in works; a rebinding answer outside the opt-in is refused.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Policy } from "@gatehouse/contract";
import {
  bundle,
  type Harness,
  parseResponses,
  policy,
  rawExchange,
  startHarness,
} from "./proxy-harness.ts";

async function get(h: Harness, url: string): Promise<number> {
  const host = new URL(url).host;
  const { text } = await rawExchange(
    h.port,
    `GET ${url} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
  );
  return parseResponses(text).responses[0]?.status ?? 0;
}

async function connectStatus(h: Harness, authority: string): Promise<number> {
  const { text } = await rawExchange(
    h.port,
    `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`,
  );
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
}

async function privateCount(h: Harness, result: "refused" | "allowed"): Promise<number> {
  const text = await h.registry.metrics();
  const m = new RegExp(
    `gatehouse_proxy_private_destinations_total\\{result="${result}"\\} (\\d+)`,
  ).exec(text);
  return Number(m?.[1] ?? 0);
}

/** The tunnel's record is written when the tunnel closes: wait for the count, bounded. */
async function waitForCount(h: Harness, result: "allowed", atLeast: number): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const n = await privateCount(h, result);
    if (n >= atLeast) return n;
    await new Promise((r) => setTimeout(r, 10));
  }
  return privateCount(h, result);
}

describe("private-address guard: lifted only by allowPrivateDestinations", () => {
  let h: Harness;
  let port: number;
  const use = (policies: Policy[], extra: Parameters<typeof bundle>[0] = {}) =>
    h.setBundle(bundle({ policies, proxy: { connectPorts: [port] }, ...extra }));

  before(async () => {
    // A short connect timeout: 10.0.0.9 (the rebinding test's listed address) is not there.
    h = await startHarness(bundle(), { connectTimeoutMs: 200 });
    port = h.origin.port;
    // The review's control API on loopback, reached through a name that resolves there.
    h.resolver.names.set("rebind.test", ["127.0.0.1"]);
    h.resolver.names.set("intranet.test", ["127.0.0.1"]);
  });
  after(() => h.close());

  test('an HTTP allow on http.request.uri contains "/public/" does not open loopback', async () => {
    use([policy("http", "allow", 'http.request.uri contains "/public/"')]);
    const seen = h.origin.seen.length;
    const refused = await privateCount(h, "refused");
    assert.equal(await get(h, `http://127.0.0.1:${port}/public/../metrics`), 403);
    assert.equal(await get(h, `http://127.0.0.1:${port}/metrics?x=/public/`), 403);
    assert.equal(h.log.peekNewest(1)[0]!.reason, "private_target");
    assert.equal(h.origin.seen.length, seen, "the origin on loopback saw nothing");
    assert.equal(await privateCount(h, "refused"), refused + 2);
  });

  test("a domain allow-list does not open a name that resolves to loopback", async () => {
    use([policy("http", "allow", "any(http.conn.domains[*] in $allowed)")], {
      lists: [{ id: "l", name: "allowed", type: "domain", items: ["rebind.test"] }],
    });
    const seen = h.origin.seen.length;
    assert.equal(await get(h, `http://rebind.test:${port}/api/v1/accounts`), 403);
    const rec = h.log.peekNewest(1)[0]!;
    assert.equal(rec.reason, "private_target");
    assert.equal(rec.policyId?.startsWith("http-"), true, "the allow policy did match");
    assert.equal(h.origin.seen.length, seen);
  });

  test('CONNECT allowed by net.connect.host ne "blocked.example" cannot reach 127.0.0.1', async () => {
    use([policy("net", "allow", 'net.connect.host ne "blocked.example"')]);
    assert.equal(await connectStatus(h, `127.0.0.1:${port}`), 403);
    assert.equal(h.log.peekNewest(1)[0]!.reason, "private_target");
  });

  test("the opt-in lets the listed internal address through, for HTTP and CONNECT", async () => {
    const allowed = await privateCount(h, "allowed");
    use([
      policy("net", "allow", `net.connect.host == "intranet.test" and net.dst.port == ${port}`, {
        settings: { allowPrivateDestinations: ["127.0.0.1/32"] },
      }),
    ]);
    assert.equal(await get(h, `http://intranet.test:${port}/ok`), 200);
    assert.equal(h.origin.seen.at(-1)?.url, "/ok");
    assert.equal(await connectStatus(h, `intranet.test:${port}`), 200);
    assert.equal(await waitForCount(h, "allowed", allowed + 2), allowed + 2);
    // The same policy does not open what it does not list: another host it does not match …
    assert.equal(await get(h, `http://127.0.0.1:${port}/ok`), 403);
  });

  test("rebinding: a name opted in for 10.0.0.0/8 that resolves to loopback is refused", async () => {
    use([
      policy("http", "allow", 'http.conn.hostname == "rebind.test"', {
        settings: { allowPrivateDestinations: ["10.0.0.0/8"] },
      }),
    ]);
    const seen = h.origin.seen.length;
    assert.equal(await get(h, `http://rebind.test:${port}/api`), 403);
    assert.equal(h.log.peekNewest(1)[0]!.reason, "private_target");
    assert.equal(h.origin.seen.length, seen);
    // Both addresses in the answer: the listed internal one is taken, loopback never.
    h.resolver.names.set("rebind.test", ["127.0.0.1", "10.0.0.9"]);
    try {
      const { text } = await rawExchange(
        h.port,
        `GET http://rebind.test:${port}/x HTTP/1.1\r\nHost: rebind.test:${port}\r\nConnection: close\r\n\r\n`,
        1500,
      );
      assert.doesNotMatch(text, /^HTTP\/1\.1 200 /, "loopback was not dialled");
      assert.equal(h.log.peekNewest(1)[0]!.upstreamAddr, `10.0.0.9:${port}`);
    } finally {
      h.resolver.names.set("rebind.test", ["127.0.0.1"]);
    }
  });
});
