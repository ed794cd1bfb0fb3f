/**
 * What the config renderer needs to lock the servers of one home: the seeds of the role's identities
 * made (first start) or reused, the public keys of every identity that has a seed in the home, and
 * the leaves' seed includes.
 */
import { ensureSeeds, knownPublicKeys } from "../nats/credentials.ts";
import type { Topology } from "./config.ts";
import { type PublicKeys, renderAuthorization, writeLeafSeedInclude } from "./nats-auth-config.ts";
import { allIdentities, roleIdentities } from "./nats-identities.ts";
import type { Role } from "./processes.ts";

export interface NatsAuth {
  /** The `authorization {}` block of every server. */
  authorization(t: Topology, quote: (s: string) => string): string;
  /** The file a cloud's leaf remote includes for its seed. */
  leafSeed(cloud: string): string;
}

/** Makes the missing seeds of `role`'s identities in `home`, and returns what the configs need. */
export function natsAuthFor(home: string, t: Topology, role: Role | undefined, quote: (s: string) => string): NatsAuth {
  ensureSeeds(home, roleIdentities(t, role));
  return natsAuthFromKeys(home, knownPublicKeys(home, allIdentities(t)), quote);
}

function natsAuthFromKeys(home: string, keys: PublicKeys, quote: (s: string) => string): NatsAuth {
  return {
    authorization: (t, q) => renderAuthorization(t, keys, q),
    leafSeed: (cloud) => writeLeafSeedInclude(home, cloud, quote),
  };
}
