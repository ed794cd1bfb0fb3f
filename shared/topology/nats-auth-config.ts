/**
 * The authorization parts of the nats-server configs, rendered from the permission table
 * (nats-permissions.ts) and the identities' public keys: every server lists the nkey users it
 * knows, each with its permissions; no user, no connection. A leaf dials the hub as its
 * `leaf-<cloud>` identity, whose seed the leaf's config includes from the credentials folder
 * (the config itself holds no secret).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { natsCredentialsDir, readSeed } from "../nats/credentials.ts";
import type { Topology } from "./config.ts";
import { leafIdentity } from "./nats-identities.ts";
import { type IdentityPermissions, natsPermissions, type SubjectRules } from "./nats-permissions.ts";

/** Identity name -> its public keys (`U...`; two while it is rotated), of the identities a server must accept. */
export type PublicKeys = Record<string, string[]>;

/**
 * `authorization { users = [...] }` for the identities in `keys`, with their permissions. Leaf links
 * are in the same list: a hub node with no `leafnodes.authorization` checks leaves against it.
 */
export function renderAuthorization(t: Topology, keys: PublicKeys, quote: (s: string) => string): string {
  const users = natsPermissions(t).flatMap((p) => (keys[p.identity] ?? []).map((key) => renderUser(p, key, quote)));
  return `authorization {\n  users = [\n${users.join("\n")}\n  ]\n}\n`;
}

function renderUser(p: IdentityPermissions, key: string, quote: (s: string) => string): string {
  const rules = (name: string, r: SubjectRules): string => {
    const parts = [`allow: [${r.allow.map(quote).join(", ")}]`];
    if (r.deny?.length) parts.push(`deny: [${r.deny.map(quote).join(", ")}]`);
    return `${name}: { ${parts.join(", ")} }`;
  };
  const perms = [rules("publish", p.publish), rules("subscribe", p.subscribe)];
  if (p.allowResponses) perms.push("allow_responses: true");
  return `    # ${p.identity}: ${p.purpose}\n    { nkey: ${quote(key)}, permissions: {\n      ${perms.join(",\n      ")}\n    } }`;
}

/** The file, next to the seeds, that a leaf's config includes in its remote: `nkey: "<seed>"`. */
export const leafSeedInclude = (home: string, cloud: string): string =>
  join(natsCredentialsDir(home), `${leafIdentity(cloud)}.conf`);

/** Writes the leaf's seed include (0600) from its seed file and returns its path. */
export function writeLeafSeedInclude(home: string, cloud: string, quote: (s: string) => string): string {
  const file = leafSeedInclude(home, cloud);
  const seed = new TextDecoder().decode(readSeed(home, leafIdentity(cloud)));
  writeFileSync(file, `nkey: ${quote(seed)}\n`, { mode: 0o600 });
  return file;
}
