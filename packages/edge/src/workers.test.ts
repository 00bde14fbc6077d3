import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_LIMITS } from "./proxy/limits.ts";
import { shareAuthFailureLimit } from "./workers.ts";

test("each worker allows its share of the failed-login limit, at least one", () => {
  const shared = shareAuthFailureLimit(
    { proxy: { http: ["127.0.0.1:3128"], limits: { authFailureLimit: 30, maxConnections: 5 } } },
    4,
  );
  assert.deepEqual(shared.proxy?.limits, { authFailureLimit: 8, maxConnections: 5 });
  assert.deepEqual(shared.proxy?.http, ["127.0.0.1:3128"]);
  // The default limit when none is configured; never below one attempt per worker.
  assert.equal(
    shareAuthFailureLimit({}, 2).proxy?.limits?.authFailureLimit,
    Math.ceil(DEFAULT_LIMITS.authFailureLimit / 2),
  );
  assert.equal(
    shareAuthFailureLimit({ proxy: { limits: { authFailureLimit: 1 } } }, 8).proxy?.limits
      ?.authFailureLimit,
    1,
  );
});
