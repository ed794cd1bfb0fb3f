/**
 * The deployment's NATS seeds: one nkey user per identity, each in its own file under the home
 * folder (`<home>/credentials/nats/<identity>.nk`, mode 0600, folder 0700), made on first start and
 * reused after. Servers are given only the public keys; a seed never leaves its file.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createUser, fromSeed } from "@nats-io/nkeys";
import { ConfigError } from "../errors.ts";

/** The folder holding a deployment's NATS seeds. */
export const natsCredentialsDir = (home: string): string => join(home, "credentials", "nats");

/** The seed file of one identity. */
export const seedFile = (home: string, identity: string): string => join(natsCredentialsDir(home), `${identity}.nk`);

/** Makes the seed of every identity that has none yet (0600 in a 0700 folder); existing seeds are kept. */
export function ensureSeeds(home: string, identities: readonly string[]): void {
  const dir = natsCredentialsDir(home);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  for (const name of identities) {
    const file = seedFile(home, name);
    if (existsSync(file)) continue;
    const seed = new TextDecoder().decode(createUser().getSeed());
    // `wx`: two starts racing never overwrite each other's seed.
    try {
      writeFileSync(file, `${seed}\n`, { mode: 0o600, flag: "wx" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
}

/** The seed of `identity` in `home`; a ConfigError naming the file and the fix when it is missing or unreadable. */
export function readSeed(home: string, identity: string): Uint8Array {
  const file = seedFile(home, identity);
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (err) {
    throw new ConfigError(
      `no NATS credentials for identity "${identity}" (${file} is missing or unreadable): ./ferry up makes them on first start; for a host bundle, copy the file from the host that planned it`,
      { cause: err },
    );
  }
  if (!text.startsWith("SU")) {
    throw new ConfigError(
      `${file} is not a NATS user seed: delete it and start again with ./ferry up to make a new one`,
    );
  }
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) chmodSync(file, 0o600);
  return new TextEncoder().encode(text);
}

/** The public key (`U...`) of `identity`'s seed in `home`: what servers are told. */
export function publicKeyOf(home: string, identity: string): string {
  return fromSeed(readSeed(home, identity)).getPublicKey();
}

/** Where the seed an identity had before `ferry creds rotate` stays until every process holds the new one. */
export const retiringSeedFile = (home: string, identity: string): string => `${seedFile(home, identity)}.old`;

/**
 * The public keys of those identities that have a seed in `home`, keyed by identity: the current
 * seed's, and during a rotation the retiring seed's too (servers then accept both).
 */
export function knownPublicKeys(home: string, identities: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const name of identities) {
    if (!existsSync(seedFile(home, name))) continue;
    out[name] = [publicKeyOf(home, name)];
    const old = retiringSeedFile(home, name);
    if (existsSync(old))
      out[name].push(fromSeed(new TextEncoder().encode(readFileSync(old, "utf8").trim())).getPublicKey());
  }
  return out;
}
