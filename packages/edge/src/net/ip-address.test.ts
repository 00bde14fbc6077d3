import assert from "node:assert/strict";
import { test } from "node:test";
import { formatIpv6, parseIpv4 } from "@gatehouse/rules";
import { splitHostPort } from "./host-port.ts";
import { ipv6Words, parseCidr, toIpValue } from "./ip-address.ts";

test("ip parsing", () => {
  assert.equal(parseIpv4("10.0.0.1"), 0x0a000001);
  for (const bad of ["10.0.0", "256.0.0.1", "01.2.3.4", "1.2.3.4.5", "a.b.c.d", ""])
    assert.equal(parseIpv4(bad), undefined, bad);
  assert.deepEqual(ipv6Words("2001:db8::1"), [0x20010db8, 0, 0, 1]);
  assert.deepEqual(ipv6Words("::ffff:1.2.3.4"), [0, 0, 0xffff, 0x01020304]);
  assert.deepEqual(ipv6Words("fe80::1%eth0"), [0xfe800000, 0, 0, 1], "a zone id is dropped");
  assert.equal(ipv6Words("1::2::3"), undefined);
  assert.deepEqual(toIpValue("::ffff:1.2.3.4"), { family: 4, v4: 0x01020304 });
  assert.equal(formatIpv6([0x20010db8, 0, 0, 1]), "2001:db8::1");
  assert.deepEqual(parseCidr("10.1.2.3/8"), { family: 4, words: [0x0a000000], prefix: 8 });
  assert.deepEqual(parseCidr("::ffff:10.0.0.0/104"), { family: 4, words: [0x0a000000], prefix: 8 });
  assert.throws(() => parseCidr("10.0.0.0/x"));
  assert.deepEqual(splitHostPort("[::1]:53"), { host: "::1", port: 53 });
  assert.deepEqual(splitHostPort("127.0.0.1:0"), { host: "127.0.0.1", port: 0 });
  assert.deepEqual(splitHostPort("::1", 53), { host: "::1", port: 53 });
  assert.throws(() => splitHostPort("1.2.3.4:99999"));
});
