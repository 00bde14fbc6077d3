// Per-device DoH tokens: `/dns-query/<token>` where the token is a device's, not a location's.
// The bundle carries each token's SHA-256 only (control shows the token once and keeps the
// hash), so the edge hashes a presented token and looks the digest up: one SHA-256 of ~43 bytes
// per DoH query that carries a token no location has. A device's queries belong to its
// location (its networks do not matter: the token is the credential) and are logged under the
// device's name.

import type { Identities, Location } from "@gatehouse/contract";
import { dohTokenDigest } from "@gatehouse/contract/secrets";

export interface DohDevice {
  readonly id: string;
  readonly name: string;
  readonly location: Location;
  /** The owning user's email, when the device has one (logged as the query's identity). */
  readonly email?: string;
  readonly groups: readonly string[];
}

export class DohDeviceIndex {
  readonly #byDigest = new Map<string, DohDevice>();

  constructor(identities: Identities | undefined, locations: readonly Location[]) {
    const locs = new Map(locations.map((l) => [l.id, l]));
    const users = new Map((identities?.users ?? []).map((u) => [u.id, u]));
    for (const d of identities?.devices ?? []) {
      if (d.dohTokenSha256 === undefined || d.locationId === undefined) continue;
      const location = locs.get(d.locationId);
      if (location === undefined) continue;
      const owner = d.userId === undefined ? undefined : users.get(d.userId);
      this.#byDigest.set(d.dohTokenSha256, {
        id: d.id,
        name: d.name,
        location,
        groups: owner?.groups ?? [],
        ...(owner ? { email: owner.email } : {}),
      });
    }
  }

  get size(): number {
    return this.#byDigest.size;
  }

  /** The device whose DoH token this is, or undefined. */
  byToken(token: string): DohDevice | undefined {
    if (this.#byDigest.size === 0) return undefined;
    return this.#byDigest.get(dohTokenDigest(token));
  }
}
