import assert from "node:assert/strict";
import { test } from "node:test";
import { AddressGuard } from "./address-guard.ts";

test("internal, special and own addresses are classified; public ones are not", () => {
  const g = new AddressGuard();
  const table: [string, string | undefined][] = [
    ["127.0.0.1", "loopback"],
    ["127.255.1.2", "loopback"],
    ["::1", "loopback"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["10.1.2.3", "private"],
    ["172.31.0.1", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "private"],
    ["fd00::1", "private"],
    ["169.254.169.254", "link_local"],
    ["fe80::1", "link_local"],
    ["224.0.0.1", "multicast"],
    ["ff02::1", "multicast"],
    ["255.255.255.255", "reserved"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:a9fe:a9fe", "link_local"],
    ["64:ff9b::10.0.0.1", "private"],
    // Every IPv6 spelling that hands traffic to an internal IPv4 host is that host.
    ["::7f00:1", "loopback"],
    ["::127.0.0.1", "loopback"],
    ["0:0:0:0:0:0:7f00:1", "loopback"],
    ["::a00:1", "private"],
    ["::ffff:0:a9fe:a9fe", "link_local"],
    ["0:0:0:0:0:ffff:10.1.2.3", "private"],
    ["64:ff9b::7f00:1", "loopback"],
    ["64:ff9b:0:0:0:0:a9fe:a9fe", "link_local"],
    ["64:ff9b:1::a00:1", "private"],
    ["2002:7f00:1::1", "loopback"],
    ["2002:c0a8:101::", "private"],
    ["fe80::1%eth0", "link_local"],
    ["::1%lo", "loopback"],
    ["64:ff9b::808:808", undefined],
    ["2002:808:808::1", undefined],
    ["::ffff:8.8.8.8", undefined],
    ["8.8.8.8", undefined],
    ["2606:4700::1111", undefined],
    ["172.32.0.1", undefined],
  ];
  for (const [ip, cls] of table) assert.equal(g.classify(ip), cls, ip);
  g.addOwnAddress("203.0.113.7");
  assert.equal(g.classify("203.0.113.7"), "own_address");
  g.addOwnEndpoint("0.0.0.0", 3128);
  assert.ok(g.isOwnEndpoint("127.0.0.1", 3128));
  assert.ok(g.isOwnEndpoint("::ffff:127.0.0.1", 3128));
  assert.ok(!g.isOwnEndpoint("127.0.0.1", 3129));
  assert.ok(g.isOwnEndpoint("::7f00:1", 3128));
  g.addOwnEndpoint("192.0.2.5", 8080);
  assert.ok(g.isOwnEndpoint("192.0.2.5", 8080));
  assert.ok(g.isOwnEndpoint("::ffff:192.0.2.5", 8080));
  assert.ok(!g.isOwnEndpoint("192.0.2.6", 8080));
  assert.ok(!g.isOwnEndpoint("127.0.0.1", 8080), "loopback only for a wildcard listener");
  assert.ok(!g.isOwnEndpoint("192.0.2.5", 3128), "an address is own on its own port only");
});

test("interface addresses become own_address; a listing that fails (no AF_NETLINK) is survived", () => {
  const listed = new AddressGuard(() => ({
    eth0: [
      {
        address: "203.0.113.7",
        netmask: "255.255.255.0",
        family: "IPv4",
        mac: "00:00:00:00:00:00",
        internal: false,
        cidr: "203.0.113.7/24",
      },
    ],
  }));
  assert.equal(listed.interfacesError, undefined);
  assert.equal(listed.ownAddressCount, 1);
  assert.equal(listed.classify("203.0.113.7"), "own_address");

  const denied = new AddressGuard(() => {
    throw new Error("uv_interface_addresses returned Unknown system error 97");
  });
  assert.match(denied.interfacesError?.message ?? "", /uv_interface_addresses/);
  assert.equal(denied.ownAddressCount, 0);
  // Everything that does not need the listing is still refused.
  assert.equal(denied.classify("127.0.0.1"), "loopback");
  assert.equal(denied.classify("169.254.169.254"), "link_local");
  assert.equal(denied.classify("203.0.113.7"), undefined);
  denied.addOwnAddress("198.51.100.9");
  assert.equal(denied.classify("198.51.100.9"), "own_address");
});
