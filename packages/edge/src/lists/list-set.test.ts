import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { toIpValue } from "../net/ip-address.ts";
import { buildListSet, ListError } from "./list-set.ts";

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
