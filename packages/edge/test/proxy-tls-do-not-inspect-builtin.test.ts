// The built-in do-not-inspect list and its policy, as `gatehouse up` creates them (contract's
// BUILTIN_DO_NOT_INSPECT), compiled into an edge that inspects: a host on the list (resolved to
// a loopback origin by the test's resolver, nothing leaves the machine) is tunnelled untouched
// and the client sees the origin's own certificate; a name the admin adds to the list is too;
// anything else is inspected.

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { BUILTIN_DO_NOT_INSPECT, BUILTIN_DO_NOT_INSPECT_ITEMS } from "@gatehouse/contract";
import {
  getOver,
  type InspectingProxy,
  startInspectingProxy,
  tlsThrough,
} from "./inspection-client.ts";
import { policy, until } from "./proxy-harness.ts";
import { originCert, type TestPki, testPki } from "./tls-pki.ts";

describe("the built-in do-not-inspect list", () => {
  let gatehouse: TestPki;
  let originPki: TestPki;
  let edge: InspectingProxy;
  const servers: Server[] = [];
  const origins: Record<string, { port: number; fingerprint: string }> = {};
  // A pinned host from the shipped list (a subdomain of it, as apps use), one the admin added.
  const listed = `api.${BUILTIN_DO_NOT_INSPECT_ITEMS[0]!}`;
  const added = "pinned-app.test";
  const other = "inspected.test";

  before(async () => {
    gatehouse = await testPki();
    originPki = await testPki();
    for (const name of [listed, added, other]) {
      const served = await originCert(originPki, name);
      const server = createServer(served, (req, res) => res.end(`origin says ${req.url}`));
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      servers.push(server);
      origins[name] = {
        port: (server.address() as AddressInfo).port,
        fingerprint: new X509Certificate(served.cert).fingerprint256,
      };
    }
    const b = BUILTIN_DO_NOT_INSPECT;
    edge = await startInspectingProxy({
      origins: Object.fromEntries(Object.entries(origins).map(([n, o]) => [n, o.port])),
      originCa: originPki.root,
      pki: gatehouse,
      lists: [
        {
          id: "builtin",
          name: b.list.name,
          type: b.list.type,
          items: [...b.list.items, added],
        },
      ],
      policies: [
        policy("http", b.policy.action, b.policy.expression, {
          name: b.policy.name,
          precedence: b.policy.precedence,
        }),
      ],
    });
  });
  after(async () => {
    await edge?.proxy.close();
    for (const s of servers) s.close();
  });

  async function served(name: string, ca: string) {
    const o = origins[name]!;
    const s = await tlsThrough(edge.port, name, o.port, { ca });
    const fingerprint = s.getPeerCertificate().fingerprint256;
    const text = await getOver(s, `${name}:${o.port}`, "/x");
    return { own: fingerprint === o.fingerprint, text };
  }

  it("a host on the shipped list shows the origin's own certificate", async () => {
    const mark = edge.log.pushed;
    const r = await served(listed, originPki.root);
    assert.equal(r.own, true, "untouched TLS, verified against the origin's CA");
    assert.match(r.text, /origin says \/x/);
    await until(() => edge.log.pushed > mark, "record");
    const rec = edge.log.peekNewest(1)[0]!;
    assert.equal(rec.action, "do_not_inspect");
    assert.equal(rec.policyName, BUILTIN_DO_NOT_INSPECT.policy.name);
  });

  it("a name the admin added to the list is not inspected either; others are", async () => {
    assert.equal((await served(added, originPki.root)).own, true);
    const r = await served(other, gatehouse.root);
    assert.equal(r.own, false, "inspected: our leaf");
    assert.match(r.text, /origin says \/x/);
  });
});
