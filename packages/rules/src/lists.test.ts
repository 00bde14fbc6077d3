import assert from "node:assert/strict";
import { test } from "node:test";
import type { IpValue } from "./api.ts";
import { parseIp } from "./ip.ts";
import { BytesList, createListSet, IntList, IpList } from "./lists.ts";
import { Scheme } from "./scheme.ts";

/** Deterministic PRNG so the generated lists are the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("a 1,000,000-entry Bytes list answers membership through a filter", () => {
  const names: string[] = new Array(1_000_000);
  for (let i = 0; i < names.length; i++) names[i] = `host-${i.toString(36)}.example`;
  const list = new BytesList(names);
  assert.equal(list.size, 1_000_000);
  const scheme = new Scheme({ fields: { "dns.fqdn": "Bytes", "dns.domains": "Array<Bytes>" } });
  const lists = createListSet().addBytes("ads", list);
  const f = scheme.compile("any(dns.domains[*] in $ads)");
  assert.ok(f.ok);
  if (!f.ok) return;
  const ctx = scheme.context(lists);
  ctx.setText("dns.domains", ["a.host-0.example", "host-0.example", "example"]);
  assert.equal(f.value.execute(ctx), true);
  ctx.setText("dns.domains", [`x.${names[999_999]}`, names[999_999], "example"]);
  assert.equal(f.value.execute(ctx), true);
  ctx.setText("dns.domains", ["host-zzzzzz.example", "example"]);
  assert.equal(f.value.execute(ctx), false);
});

function naiveHas(cidrs: { net: number; mask: number }[], v4: number): boolean {
  for (const c of cidrs) if ((v4 & c.mask) >>> 0 === c.net) return true;
  return false;
}

test("a 100,000-CIDR Ip list agrees with a linear scan", () => {
  const rand = rng(42);
  const items: string[] = [];
  const cidrs: { net: number; mask: number }[] = [];
  for (let i = 0; i < 100_000; i++) {
    const prefix = 8 + Math.floor(rand() * 25); // 8..32
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    const net = (Math.floor(rand() * 2 ** 32) & mask) >>> 0;
    cidrs.push({ net, mask });
    items.push(`${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${prefix}`);
  }
  const list = new IpList(items);
  // Probe addresses inside listed networks and random ones; both answers must match the scan.
  for (let i = 0; i < 2000; i++) {
    const c = cidrs[Math.floor(rand() * cidrs.length)];
    if (c === undefined) throw new Error("no CIDRs generated");
    const inside = (c.net | (Math.floor(rand() * 2 ** 32) & ~c.mask)) >>> 0;
    assert.equal(list.has({ family: 4, v4: inside }), true);
    const any = Math.floor(rand() * 2 ** 32) >>> 0;
    if (i < 200) assert.equal(list.has({ family: 4, v4: any }), naiveHas(cidrs, any));
  }
});

test("Ip lists: hosts, CIDRs, IPv6 ranges, v4 and v6 apart", () => {
  const list = new IpList(["10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "::1", "0.0.0.0/32"]);
  const has = (s: string) => list.has(parseIp(s) as IpValue);
  assert.equal(has("10.255.255.255"), true);
  assert.equal(has("11.0.0.0"), false);
  assert.equal(has("192.0.2.1"), true);
  assert.equal(has("192.0.2.2"), false);
  assert.equal(has("2001:db8:ffff::1"), true);
  assert.equal(has("2001:db9::"), false);
  assert.equal(has("::1"), true);
  assert.equal(has("::2"), false);
  assert.equal(has("0.0.0.0"), true);
  assert.equal(has("::ffff:10.0.0.1"), false);
  assert.throws(() => new IpList(["10.0.0.1/8"]), /host part/);
  assert.throws(() => new IpList(["nope"]), /not an IP/);
});

test("a 100,000-entry IPv6 list and a 1,000,000-range Int list", () => {
  const v6: string[] = [];
  for (let i = 0; i < 100_000; i++)
    v6.push(`2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`);
  const l6 = new IpList(v6);
  assert.equal(l6.has(parseIp("2001:db8:1:86a0::5") as IpValue), false);
  assert.equal(l6.has(parseIp("2001:db8:1:869f::5") as IpValue), true);
  const ints: [number, number][] = [];
  for (let i = 0; i < 1_000_000; i++) ints.push([i * 10, i * 10 + 2]);
  const li = new IntList(ints);
  assert.equal(li.has(9_999_992), true);
  assert.equal(li.has(9_999_993), false);
  assert.equal(li.has(-1), false);
});

test("Int lists merge overlapping and adjacent ranges", () => {
  const l = new IntList([5, [1, 3], "4..4", [10, 20], [15, 30]]);
  for (const v of [1, 2, 3, 4, 5, 10, 25, 30]) assert.equal(l.has(v), true, String(v));
  for (const v of [0, 6, 9, 31]) assert.equal(l.has(v), false, String(v));
  assert.throws(() => new IntList(["x"]), /Int list item #0/);
  assert.throws(() => new IntList(["5..1"]), /ends before/);
});

test("Scheme.fromJSON builds the lists of the conformance scheme shape", () => {
  const { scheme, lists } = Scheme.fromJSON({
    fields: { p: "Int" },
    lists: { ports: { type: "Int", items: [22, 3389] } },
  });
  const f = scheme.compile("p in $ports");
  assert.ok(f.ok);
  if (f.ok) assert.equal(f.value.execute(scheme.context(lists).set("p", 3389)), true);
  assert.throws(
    () => Scheme.fromJSON({ fields: {}, lists: { x: { type: "Str", items: [] } } }),
    /unknown list type/,
  );
});
