import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { toIpValue } from "../net/ip-address.ts";
import { runSync } from "../slices.ts";
import { buildListSet, buildListSetSteps, ListError, shareLists } from "./list-set.ts";

test("builds every list kind, files relative to baseDir", () => {
  const dir = mkdtempSync(join(tmpdir(), "gh-lists-"));
  writeFileSync(join(dir, "ads.txt"), "||ads.example^\n@@||ok.ads.example^\n");
  const set = buildListSet(
    [
      { id: "1", name: "ads", type: "domain", file: "ads.txt", items: ["inline.example"] },
      { id: "2", name: "nets", type: "ip", items: ["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"] },
      { id: "3", name: "ports", type: "int", items: [22, "3389"] },
      { id: "4", name: "words", type: "string", items: ["héllo"] },
    ],
    { baseDir: dir },
  );
  assert.ok(set.bytes("ads")!.has("ads.example"));
  assert.ok(set.bytes("ads")!.has("inline.example"));
  assert.ok(set.bytes("ads.allow")!.has("ok.ads.example"));
  const ip = set.ip("nets")!;
  assert.ok(ip.has(toIpValue("10.1.2.3")!));
  assert.ok(ip.has(toIpValue("192.0.2.1")!));
  assert.ok(!ip.has(toIpValue("192.0.2.2")!));
  assert.ok(ip.has(toIpValue("::ffff:10.9.9.9", false)!), "v4-mapped matches v4 entries");
  assert.ok(ip.has(toIpValue("2001:db8:1::5")!));
  assert.ok(!ip.has(toIpValue("2001:db9::1")!));
  assert.ok(set.int("ports")!.has(3389));
  assert.ok(set.bytes("words")!.has(Buffer.from("héllo").toString("latin1")));
  assert.equal(set.bytes("missing"), undefined);
});

test("bad items and missing files are ListErrors naming the list", () => {
  assert.throws(
    () => buildListSet([{ id: "1", name: "n", type: "ip", items: ["10.0.0.0/33"] }]),
    ListError,
  );
  assert.throws(
    () => buildListSet([{ id: "1", name: "p", type: "int", items: ["x"] }]),
    /list \$p/,
  );
  assert.throws(
    () => buildListSet([{ id: "1", name: "f", type: "domain", file: "/nonexistent/x.txt" }]),
    /list \$f: cannot read/,
  );
});

test("domain lists built into shared memory give the same verdicts where another thread reads them", () => {
  const lists = [
    { id: "0", name: "ports", type: "int" as const, items: [22] },
    {
      id: "1",
      name: "ads",
      type: "domain" as const,
      format: "adblock" as const,
      items: [
        "||ads.example^",
        "@@||ok.ads.example^",
        "||ad*.tracker.example^",
        "/^x[0-9]+\\.rx\\.example$/",
        "||gone.example^",
        "||gone.example^$badfilter",
        "||only-aaaa.example^$dnstype=AAAA",
        "||bad.example^$important",
        "@@||bad.example^",
        "|exact.example^",
        "||*.wild.example^",
      ],
    },
  ];
  const built = runSync(buildListSetSteps(lists, { shared: true }));
  const shared = shareLists(built, lists);
  assert.deepEqual([...shared.keys()], [1], "only domain lists are shared");
  const entry = shared.get(1)!;
  assert.equal(entry.list.names.length, 4, "four shapes of name rules");
  for (const s of [entry.list.block, entry.list.allow, ...entry.list.names.map((n) => n.names)]) {
    for (const a of [s.arena, s.table, s.lens]) assert.ok(a.buffer instanceof SharedArrayBuffer);
  }
  // The rules cross as data (structured clone), the sets' memory is the same.
  const sent = structuredClone(shared);
  assert.equal(
    sent.get(1)!.list.block.arena.buffer.byteLength,
    entry.list.block.arena.buffer.byteLength,
  );
  const there = runSync(buildListSetSteps(lists, { prebuilt: sent }));
  assert.deepEqual(there.stats, built.stats);
  const names = [
    "ads.example",
    "sub.ads.example",
    "ok.ads.example",
    "ad1.tracker.example",
    "x12.rx.example",
    "y12.rx.example",
    "gone.example",
    "only-aaaa.example",
    "bad.example",
    "other.example",
    "exact.example",
    "x.exact.example",
    "wild.example",
    "a.wild.example",
  ];
  for (const qtype of [1, 28]) {
    built.query.begin(qtype, qtype === 1 ? "A" : "AAAA", "127.0.0.1");
    there.query.begin(qtype, qtype === 1 ? "A" : "AAAA", "127.0.0.1");
    for (const n of names)
      assert.equal(
        there.domains("ads")!.hasOrParent(n),
        built.domains("ads")!.hasOrParent(n),
        `${n} type ${qtype}`,
      );
  }
  assert.deepEqual(
    names.filter((n) => there.domains("ads")!.hasOrParent(n)),
    [
      "ads.example",
      "sub.ads.example",
      "ad1.tracker.example",
      "x12.rx.example",
      "only-aaaa.example",
      "bad.example",
      "exact.example",
      "a.wild.example",
    ],
  );
  assert.ok(there.int("ports")!.has(22), "other lists are built where they are read");
  // A list built without `shared` cannot be shared.
  assert.throws(() => shareLists(buildListSet(lists), lists), /not built/);
});
