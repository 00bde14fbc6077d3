// The validator a config asks for (`resolver.dnssec`, per-location `dnssec.validate`), built once
// per config snapshot. A reload with the same anchors and negative anchors keeps the previous
// validator and its cache of zone keys (only its upstream fetch changes), so a reload costs no
// chain of trust walked again. Bad trust anchors throw: the config is rejected.

import type { Location, ResolverSettings } from "@gatehouse/contract";
import { lowerName } from "../wire/name.ts";
import { BUILTIN_NEGATIVE_ANCHORS, ROOT_ANCHORS } from "./anchors.ts";
import { parseAnchors } from "./records.ts";
import { Validator, type ValidatorFetch } from "./validator.ts";

export interface DnssecSetup {
  /** Undefined when validation is off for the whole config. */
  readonly validator: Validator | undefined;
  /** Location ids whose clients get no validation. */
  readonly offLocations: ReadonlySet<string>;
}

const bare = (n: string) => lowerName(n.replace(/\.$/, ""));

export function dnssecSetup(
  r: ResolverSettings,
  locations: readonly Location[],
  fetch: ValidatorFetch,
  previous: Validator | undefined,
): DnssecSetup {
  const offLocations = new Set(
    locations.filter((l) => l.dnssec?.validate === false).map((l) => l.id),
  );
  const d = r.dnssec;
  if (d?.validate === false) return { validator: undefined, offLocations };
  const anchorsText = d?.trustAnchors ?? ROOT_ANCHORS;
  const anchors = parseAnchors(anchorsText);
  if (anchors.length === 0)
    throw new Error("resolver.dnssec.trustAnchors holds no DS or DNSKEY record");
  const negativeAnchors = [
    ...new Set([
      ...BUILTIN_NEGATIVE_ANCHORS,
      ...(d?.negativeTrustAnchors ?? []).map(bare),
      // A conditionally forwarded suffix is answered by an internal server for names the
      // public tree does not delegate: not validated (docs/dns.md).
      ...(r.conditionalForwarding ?? []).map((cf) => bare(cf.suffix)),
    ]),
  ];
  const key = JSON.stringify([anchorsText, negativeAnchors]);
  if (previous && previous.configKey === key) {
    previous.fetch = fetch;
    return { validator: previous, offLocations };
  }
  const v = new Validator({ anchors, negativeAnchors }, fetch);
  v.configKey = key;
  return { validator: v, offLocations };
}
