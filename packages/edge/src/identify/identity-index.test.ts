import assert from "node:assert/strict";
import { test } from "node:test";
import { hashSecret } from "@gatehouse/contract/secrets";
import { IdentityIndex } from "./identity-index.ts";

test("verifies users and devices, caches successes, rejects wrong passwords", async () => {
  const [uh, dh] = await Promise.all([hashSecret("user-pass"), hashSecret("dev-pass")]);
  const idx = new IdentityIndex({
    users: [{ id: "u1", email: "Ann@Example.com", groups: ["eng"], credentialHash: uh }],
    devices: [{ id: "d1", name: "laptop-1", credentialHash: dh, userId: "u1" }],
  });
  const u = await idx.verify("ann@example.com", "user-pass");
  assert.equal(u?.id, "u1");
  assert.deepEqual(u?.groups, ["eng"]);
  assert.equal(await idx.verify("ann@example.com", "wrong"), undefined);
  assert.equal(await idx.verify("nobody@example.com", "user-pass"), undefined);
  const d = await idx.verify("laptop-1", "dev-pass");
  assert.equal(d?.kind, "device");
  assert.equal(d?.email, "Ann@Example.com");
  // Cached: same answer again (and a wrong password still fails after a cached success).
  assert.equal((await idx.verify("ANN@example.com", "user-pass"))?.id, "u1");
  assert.equal(await idx.verify("ann@example.com", "user-pass2"), undefined);
  // Concurrent identical verifications share one KDF run and agree.
  const many = await Promise.all([1, 2, 3].map(() => idx.verify("laptop-1", "dev-pass")));
  assert.ok(many.every((x) => x?.id === "d1"));
});

test("an unknown name runs the KDF like a wrong password does", async () => {
  const idx = new IdentityIndex({
    users: [
      { id: "u1", email: "ann@example.com", groups: [], credentialHash: await hashSecret("pw") },
    ],
    devices: [],
  });
  // Failing fast for names that do not exist would tell a guesser which names do.
  assert.equal(await idx.verify("nobody@example.com", "guess"), undefined);
  assert.equal(idx.kdfRuns, 1);
  assert.equal(await idx.verify("ann@example.com", "guess"), undefined);
  assert.equal(idx.kdfRuns, 2);
  assert.ok(await idx.verify("ann@example.com", "pw"));
  assert.ok(await idx.verify("ann@example.com", "pw"), "cached");
  assert.equal(idx.kdfRuns, 3);
});
