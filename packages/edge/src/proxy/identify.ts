// Stage identify: who is asking? The location comes from the source address (as in DNS); the
// user or device from `Proxy-Authorization: Basic` (RFC 9110 §11.7.2, RFC 7617). Before admit,
// because admission (unknown client, auth required) and policies (identity.*) depend on it.
// Credentials are checked with a slow KDF, so verdicts are cached per snapshot under a hash of
// the header (never the password itself); failures are cached too, so a client cannot make us
// run scrypt for every request.

import { createHash } from "node:crypto";
import type { IdentityView, ProxySnapshot } from "./edge-view.ts";
import type { Exchange, Outcome, Stage } from "./exchange.ts";

interface Verdict {
  readonly identity: IdentityView | undefined;
  readonly principal: string | undefined;
}
const FAILED: Verdict = { identity: undefined, principal: undefined };
const MAX_CACHED = 10_000;

const verdicts = new WeakMap<ProxySnapshot, Map<string, Verdict | Promise<Verdict>>>();

/** Split a Basic credential (RFC 7617 §2): base64 of user-id ":" password, UTF-8. */
export function decodeBasic(header: string): { user: string; password: string } | undefined {
  const sp = header.indexOf(" ");
  if (sp < 0 || header.slice(0, sp).toLowerCase() !== "basic") return undefined;
  const token = header.slice(sp + 1).trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token)) return undefined;
  const text = Buffer.from(token, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon <= 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

async function verify(snapshot: ProxySnapshot, header: string): Promise<Verdict> {
  const cred = decodeBasic(header);
  if (cred === undefined) return FAILED;
  const identity = await snapshot.identities.verify(cred.user, cred.password);
  return identity === undefined ? FAILED : { identity, principal: cred.user };
}

export function createIdentify(): Stage {
  return {
    name: "identify",
    run(ex: Exchange): Outcome | Promise<Outcome> {
      ex.location = ex.snapshot.locations.bySource(ex.clientIp);
      const header = ex.req.headers["proxy-authorization"];
      if (header === undefined) return "next";
      let cache = verdicts.get(ex.snapshot);
      if (cache === undefined) {
        cache = new Map();
        verdicts.set(ex.snapshot, cache);
      }
      const key = createHash("sha256").update(header).digest("base64");
      let v = cache.get(key);
      if (v === undefined) {
        if (cache.size >= MAX_CACHED) cache.clear();
        const p = verify(ex.snapshot, header).catch(() => FAILED);
        cache.set(key, p);
        p.then((done) => {
          if (cache.get(key) === p) cache.set(key, done);
        });
        v = p;
      }
      if (v instanceof Promise) {
        return v.then((done) => apply(ex, done));
      }
      return apply(ex, v);
    },
  };
}

function apply(ex: Exchange, v: Verdict): Outcome {
  ex.identity = v.identity;
  ex.principal = v.principal;
  // Credentials were offered and rejected: remember it for admit (407 again, RFC 9110 §15.5.8).
  if (v === FAILED) ex.reason = "auth_failed";
  return "next";
}
