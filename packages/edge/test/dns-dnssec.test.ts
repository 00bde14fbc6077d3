// DNSSEC validation end to end: an edge forwarding to nsd serving a signed tree the test builds
// (dnssec-hierarchy.ts), with the test root's DS as its only trust anchor. Secure answers get AD,
// insecure ones pass without it, bogus ones are SERVFAIL with the RFC 8914 code that names the
// cause; NSEC and NSEC3 denials, wildcards, CNAME chains across zones and each algorithm. Where
// unbound is installed it validates the same tree with the same anchor and must agree on the
// rcode and AD of every case. Skipped, with the reason, without ldns-keygen/ldns-signzone/nsd.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { EdgeConfigFile } from "@gatehouse/contract";
import { Ede, Rcode, RRType } from "../src/dns/wire/constants.ts";
import { readEde } from "../src/dns/wire/edns.ts";
import type { Message } from "../src/dns/wire/message.ts";
import { type Edge, startEdge } from "../src/main.ts";
import { edgeRegistry } from "../src/telemetry/metrics.ts";
import {
  freePort,
  type QueryOptions,
  spawnDnsServer,
  udpQuery,
  unboundServerLines,
} from "./dns-helpers.ts";
import { buildHierarchy, dnssecToolsMissing, type Hierarchy } from "./dnssec-hierarchy.ts";

const skip = dnssecToolsMissing();
if (skip) console.log(`# skipping the DNSSEC validation tests: ${skip}`);

const unbound = ["/usr/sbin/unbound", "/usr/local/sbin/unbound"].find((p) => existsSync(p));

interface Case {
  name: string;
  type?: number;
  rcode: number;
  ad: boolean;
  /** The EDE code of a bogus answer. */
  ede?: number;
  /** An A address the answer must hold. */
  address?: string;
}

const A = RRType.A;
const CASES: Record<string, Case> = {
  "secure (ECDSAP256SHA256, NSEC)": {
    name: "www.secure.gh",
    rcode: 0,
    ad: true,
    address: "192.0.2.1",
  },
  "secure (ECDSAP384SHA384, NSEC3)": {
    name: "www.n3.gh",
    rcode: 0,
    ad: true,
    address: "192.0.2.10",
  },
  "secure (RSASHA256)": { name: "www.alg8.gh", rcode: 0, ad: true, address: "192.0.2.20" },
  "secure (RSASHA512)": { name: "www.alg10.gh", rcode: 0, ad: true, address: "192.0.2.21" },
  "secure (ED25519)": { name: "www.alg15.gh", rcode: 0, ad: true, address: "192.0.2.22" },
  "secure TXT": { name: "www.secure.gh", type: RRType.TXT, rcode: 0, ad: true },
  "secure, the question in mixed case": {
    name: "WWW.Secure.GH",
    rcode: 0,
    ad: true,
    address: "192.0.2.1",
  },
  "DS (signed by the parent zone)": { name: "secure.gh", type: RRType.DS, rcode: 0, ad: true },
  "DNSKEY (signed by the zone's own key)": {
    name: "alg8.gh",
    type: RRType.DNSKEY,
    rcode: 0,
    ad: true,
  },
  "DS of an unsigned delegation (NODATA proven by NSEC3)": {
    name: "insecure.gh",
    type: RRType.DS,
    rcode: 0,
    ad: true,
  },
  "NSEC NXDOMAIN": { name: "nope.secure.gh", rcode: Rcode.NXDOMAIN, ad: true },
  "NSEC NODATA": { name: "www.secure.gh", type: RRType.AAAA, rcode: 0, ad: true },
  "NSEC empty non-terminal": { name: "ent.secure.gh", rcode: 0, ad: true },
  "NSEC3 NXDOMAIN": { name: "nope.n3.gh", rcode: Rcode.NXDOMAIN, ad: true },
  "NSEC3 NODATA": { name: "www.n3.gh", type: RRType.AAAA, rcode: 0, ad: true },
  "NSEC wildcard answer": { name: "x.wild.secure.gh", rcode: 0, ad: true, address: "192.0.2.2" },
  "NSEC3 wildcard answer": { name: "x.wild.n3.gh", rcode: 0, ad: true, address: "192.0.2.11" },
  "NSEC wildcard NODATA": { name: "x.wild.secure.gh", type: RRType.AAAA, rcode: 0, ad: true },
  "CNAME across signed zones": {
    name: "alias.secure.gh",
    rcode: 0,
    ad: true,
    address: "192.0.2.22",
  },
  "CNAME into an unsigned zone": {
    name: "tounsigned.secure.gh",
    rcode: 0,
    ad: false,
    address: "192.0.2.30",
  },
  "CNAME into a bogus zone": {
    name: "tobogus.secure.gh",
    rcode: Rcode.SERVFAIL,
    ad: false,
    ede: Ede.DNSSEC_BOGUS,
  },
  "insecure delegation (NSEC3 proof)": {
    name: "www.insecure.gh",
    rcode: 0,
    ad: false,
    address: "192.0.2.30",
  },
  "insecure delegation (NSEC proof)": {
    name: "www.plain",
    rcode: 0,
    ad: false,
    address: "192.0.2.50",
  },
  "signed data in a zone whose NSEC3 uses too many iterations": {
    name: "www.iter.gh",
    rcode: 0,
    ad: true,
    address: "192.0.2.31",
  },
  "NSEC3 NXDOMAIN with iterations above the limit (RFC 9276)": {
    name: "nope.iter.gh",
    rcode: Rcode.NXDOMAIN,
    ad: false,
    ede: Ede.UNSUPPORTED_NSEC3_ITERATIONS,
  },
  "bogus: tampered signature": {
    name: "www.tampered.gh",
    rcode: Rcode.SERVFAIL,
    ad: false,
    ede: Ede.DNSSEC_BOGUS,
  },
  "bogus: expired signature": {
    name: "www.expired.gh",
    rcode: Rcode.SERVFAIL,
    ad: false,
    ede: Ede.SIGNATURE_EXPIRED,
  },
  "bogus: signature not yet valid": {
    name: "www.future.gh",
    rcode: Rcode.SERVFAIL,
    ad: false,
    ede: Ede.SIGNATURE_NOT_YET_VALID,
  },
  "bogus: DNSKEY missing": {
    name: "www.nokey.gh",
    rcode: Rcode.SERVFAIL,
    ad: false,
    ede: Ede.DNSKEY_MISSING,
  },
  "bogus: DS names no key of the zone": {
    name: "www.mismatch.gh",
    rcode: Rcode.SERVFAIL,
    ad: false,
    ede: Ede.DNSKEY_MISSING,
  },
};

function config(h: Hierarchy, extra: Partial<EdgeConfigFile["resolver"]> = {}): EdgeConfigFile {
  return {
    resolver: {
      upstreams: [{ address: `udp://127.0.0.1:${h.port}`, timeoutMs: 2000 }],
      rateLimit: false,
      dnssec: { trustAnchors: h.anchor },
      ...extra,
    },
    locations: [
      { id: "lo", name: "Loopback", networks: ["127.0.0.1"] },
      { id: "off", name: "No validation", networks: ["127.0.0.2"], dnssec: { validate: false } },
    ],
    lists: [],
    policies: [],
    edge: { dns: { udp: ["127.0.0.1:0"], tcp: ["127.0.0.1:0"] } },
  };
}

const portOf = (edge: Edge) => Number(edge.addresses.dns.udp[0]!.split(":").pop());

async function ask(port: number, name: string, o: QueryOptions = {}): Promise<Message> {
  const r = await udpQuery(port, name, { do: true, timeoutMs: 4000, ...o });
  assert.ok(r, `no answer for ${name}`);
  return r;
}

function check(label: string, c: Case, r: Message): void {
  assert.equal(r.rcode, c.rcode, `${label}: rcode`);
  assert.equal(r.ad, c.ad, `${label}: AD`);
  const ede = readEde(r.edns).map((e) => e.infoCode);
  if (c.ede !== undefined)
    assert.deepEqual(ede.slice(0, 1), [c.ede], `${label}: EDE ${JSON.stringify(readEde(r.edns))}`);
  if (c.address)
    assert.ok(
      r.answers.some((x) => x.type === A && x.data === c.address),
      `${label}: ${c.address} in ${JSON.stringify(r.answers)}`,
    );
}

async function startUnbound(h: Hierarchy): Promise<{ port: number; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "gh-unbound-dnssec-"));
  const port = await freePort();
  writeFileSync(join(dir, "anchor"), `${h.anchor}\n`);
  writeFileSync(
    join(dir, "unbound.conf"),
    [
      ...unboundServerLines(dir, port),
      '  module-config: "validator iterator"',
      `  trust-anchor-file: "${dir}/anchor"`,
      "  do-not-query-localhost: no",
      "  access-control: 127.0.0.0/8 allow",
      "  ede: yes",
      "  qname-minimisation: no",
      "remote-control:",
      "  control-enable: no",
      "forward-zone:",
      '  name: "."',
      `  forward-addr: 127.0.0.1@${h.port}`,
      "",
    ].join("\n"),
  );
  const s = await spawnDnsServer(
    unbound!,
    ["-d", "-c", join(dir, "unbound.conf")],
    port,
    (m) => m !== undefined,
  );
  return {
    port,
    stop: async () => {
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe("DNSSEC validation against a signed tree on nsd", { skip }, () => {
  let h: Hierarchy;
  let edge: Edge;
  let port: number;
  before(async () => {
    h = await buildHierarchy();
    edge = await startEdge({ config: config(h), log: () => {} });
    port = portOf(edge);
  });
  after(async () => {
    await edge?.close();
    await h?.close();
  });

  for (const [label, c] of Object.entries(CASES)) {
    test(label, async () => {
      check(label, c, await ask(port, c.name, { type: c.type ?? A }));
      // Cached: the same verdict without validating again, over the fast path too.
      check(`${label} (cached)`, c, await ask(port, c.name, { type: c.type ?? A }));
    });
  }

  test("AD only to clients that set DO or AD (RFC 6840 §5.8); DO=0 gets no RRSIGs", async () => {
    const plain = await ask(port, "www.secure.gh", { do: false });
    assert.equal(plain.ad, false);
    assert.ok(!plain.answers.some((r) => r.type === RRType.RRSIG));
    const withAd = await ask(port, "www.secure.gh", { do: false, ad: true });
    assert.equal(withAd.ad, true);
    const withDo = await ask(port, "www.secure.gh");
    assert.ok(
      withDo.answers.some((r) => r.type === RRType.RRSIG),
      "DO=1 gets the signatures",
    );
  });

  test("CD=1: no validation, the bogus data is handed over without AD (RFC 4035 §3.2.2)", async () => {
    const r = await ask(port, "www.tampered.gh", { cd: true });
    assert.equal(r.rcode, Rcode.NOERROR);
    assert.equal(r.ad, false);
    assert.equal(r.cd, true);
    // And CD=0 afterwards is still SERVFAIL (CD is part of the cache key).
    assert.equal((await ask(port, "www.tampered.gh")).rcode, Rcode.SERVFAIL);
  });

  test("a location with validation off gets the bogus data, no AD", async () => {
    const r = await ask(port, "www.expired.gh", { from: "127.0.0.2" });
    assert.equal(r.rcode, Rcode.NOERROR);
    assert.equal(r.ad, false);
    const s = await ask(port, "www.secure.gh", { from: "127.0.0.2" });
    assert.equal(s.ad, false, "nothing is vouched for without validation");
  });

  test("query log and metrics: validation state, EDE, counts by reason", async () => {
    await ask(port, "www.future.gh");
    const recs = edge.queryLog.peekNewest(500);
    const bogus = recs.find((r) => r.qname === "www.future.gh");
    assert.equal(bogus?.dnssec, "bogus");
    assert.equal(bogus?.ede, Ede.SIGNATURE_NOT_YET_VALID);
    assert.equal(bogus?.reason, "dnssec_bogus");
    assert.equal(recs.find((r) => r.qname === "www.alg8.gh")?.dnssec, "secure");
    assert.equal(recs.find((r) => r.qname === "www.insecure.gh")?.dnssec, "insecure");
    const text = await edgeRegistry().getSingleMetricAsString(
      "gatehouse_dns_dnssec_validations_total",
    );
    assert.match(text, /result="bogus",reason="signature_not_yet_valid"\} [1-9]/);
    assert.match(text, /result="secure",reason="signed"\} [1-9]/);
    assert.match(text, /result="insecure",reason="nsec3_iterations"\} [1-9]/);
  });

  test("a bogus answer is remembered for 60 s: repeats are SERVFAIL without validating again", async () => {
    const count = async () => {
      const text = await edgeRegistry().getSingleMetricAsString(
        "gatehouse_dns_dnssec_validations_total",
      );
      return Number(/result="bogus",reason="signature_expired"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const before = await count();
    for (let i = 0; i < 3; i++) {
      const r = await ask(port, "www.expired.gh", { type: RRType.TXT });
      assert.equal(r.rcode, Rcode.SERVFAIL);
      assert.deepEqual(
        readEde(r.edns).map((e) => e.infoCode),
        [Ede.SIGNATURE_EXPIRED],
      );
    }
    assert.equal(await count(), before + 1, "validated once, then remembered");
  });

  describe("a negative trust anchor (RFC 7646)", () => {
    let e2: Edge;
    before(async () => {
      e2 = await startEdge({
        config: config(h, {
          dnssec: { trustAnchors: h.anchor, negativeTrustAnchors: ["tampered.gh"] },
        }),
        log: () => {},
      });
    });
    after(async () => e2?.close());
    test("names below it are answered without validation; others still validate", async () => {
      const r = await ask(portOf(e2), "www.tampered.gh");
      assert.equal(r.rcode, Rcode.NOERROR);
      assert.equal(r.ad, false);
      assert.equal((await ask(portOf(e2), "www.expired.gh")).rcode, Rcode.SERVFAIL);
      assert.equal((await ask(portOf(e2), "www.secure.gh")).ad, true);
    });
  });

  describe("the built-in root anchors against this private root", () => {
    let e3: Edge;
    before(async () => {
      e3 = await startEdge({ config: config(h, { dnssec: {} }), log: () => {} });
    });
    after(async () => e3?.close());
    test("nothing validates: the tree's root key is not IANA's (DNSKEY Missing)", async () => {
      const r = await ask(portOf(e3), "www.secure.gh");
      assert.equal(r.rcode, Rcode.SERVFAIL);
      assert.deepEqual(
        readEde(r.edns).map((e) => e.infoCode),
        [Ede.DNSKEY_MISSING],
      );
    });
  });

  describe("unbound validating the same tree with the same anchor agrees", {
    skip: unbound ? false : "unbound not installed",
  }, () => {
    let ub: { port: number; stop(): Promise<void> };
    before(async () => {
      ub = await startUnbound(h);
    });
    after(async () => ub?.stop());
    for (const [label, c] of Object.entries(CASES)) {
      test(label, async () => {
        const u = await ask(ub.port, c.name, { type: c.type ?? A });
        const g = await ask(port, c.name, { type: c.type ?? A });
        assert.deepEqual([g.rcode, g.ad], [u.rcode, u.ad], `${label}: gatehouse vs unbound`);
      });
    }
  });
});
