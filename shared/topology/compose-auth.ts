/**
 * NATS authorization for the compose deployment. The committed server configs hold no key: each
 * includes the authorization file, and each leaf's remote its link's seed include, from AUTH_MOUNT.
 * ./ferry compose makes the seeds (once, reused) and writes those files under CREDENTIALS_DIR,
 * which is git-ignored; docker-compose.yml mounts into each container only what it needs.
 */
import { writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { ensureSeeds, knownPublicKeys, seedFile } from "../nats/credentials.ts";
import { AUTH_MOUNT, AUTHORIZATION_FILE, COMPOSE_DIR, CONF_MOUNT } from "./compose-layout.ts";
import type { Topology } from "./config.ts";
import { leafSeedInclude, renderAuthorization, writeLeafSeedInclude } from "./nats-auth-config.ts";
import type { NatsAuth } from "./nats-auth-setup.ts";
import { allIdentities, leafIdentity } from "./nats-identities.ts";

const AUTHORIZATION_NAME = "authorization.conf";
/** The authorization file, as the servers' containers see it. */
export const AUTHORIZATION_MOUNT = `${AUTH_MOUNT}/${AUTHORIZATION_NAME}`;

/** The leaf link's seed include, as the leaf's container sees it. */
export const leafSeedMount = (cloud: string): string => `${AUTH_MOUNT}/${leafIdentity(cloud)}.conf`;

/** A leaf link's seed include on this machine, relative to the repository (COMPOSE_DIR is the compose home). */
export const leafSeedFile = (cloud: string): string => leafSeedInclude(COMPOSE_DIR, cloud);

/** An identity's seed on this machine, relative to the repository. */
export const seedFileOf = (identity: string): string => seedFile(COMPOSE_DIR, identity);

/** What the compose configs render: includes of files mounted at AUTH_MOUNT (paths relative to CONF_MOUNT). */
export const composeAuth: NatsAuth = {
  // nats-server resolves an include against the including file's folder.
  authorization: (_t, q) => `include ${q(posix.relative(CONF_MOUNT, AUTHORIZATION_MOUNT))}\n`,
  leafSeed: (cloud) => leafSeedMount(cloud),
};

/**
 * Makes the missing seeds of every identity under `<root>/CREDENTIALS_DIR/nats` (0600, folder 0700)
 * and writes the servers' authorization file and each leaf's seed include. Returns every file there.
 */
export function writeComposeCredentials(t: Topology, root: string, quote: (s: string) => string): string[] {
  const home = join(root, COMPOSE_DIR);
  const identities = allIdentities(t);
  ensureSeeds(home, identities);
  const authorization = join(root, AUTHORIZATION_FILE);
  // Public keys and permissions only: readable by the servers' containers whatever user they run as.
  writeFileSync(authorization, renderAuthorization(t, knownPublicKeys(home, identities), quote), { mode: 0o644 });
  const leaves = t.clouds.map((c) => writeLeafSeedInclude(home, c.name, quote));
  return [authorization, ...leaves, ...identities.map((i) => seedFile(home, i))];
}
