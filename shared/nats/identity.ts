/**
 * How a process authenticates to a nats-server: as one named identity, with the seed from the
 * deployment's home folder (shared/nats/credentials.ts). Every connection gets an inbox prefix of its
 * own identity, so an identity may subscribe only to its own replies, never to another's.
 */
import { type ConnectionOptions, nkeyAuthenticator } from "@nats-io/transport-node";
import { readSeed } from "./credentials.ts";

/** Who connects: the identity's name and the home folder holding its seed. */
export interface NatsIdentity {
  name: string;
  home: string;
}

/**
 * Where a process that was not told its identity finds it: `FERRY_NATS_HOME` (the folder holding
 * `credentials/nats/<identity>.nk`) and `FERRY_NATS_IDENTITY` (else `defaultName`).
 */
export function identityFromEnv(env: NodeJS.ProcessEnv = process.env, defaultName?: string): NatsIdentity | undefined {
  const name = env.FERRY_NATS_IDENTITY || defaultName;
  const home = env.FERRY_NATS_HOME;
  return name && home ? { name, home } : undefined;
}

/** The inbox prefix of an identity's connections: replies to it arrive only there. */
export const identityInbox = (identity: string): string => `_INBOX_${identity}`;

/**
 * The connect options that authenticate as `identity` (or as the one in the environment); none
 * when there is no identity at all (a bare test server without authorization).
 */
export function natsAuthOptions(identity?: NatsIdentity): Partial<ConnectionOptions> {
  const who = identity ?? identityFromEnv();
  if (!who) return {};
  return { authenticator: nkeyAuthenticator(currentSeed(who)), inboxPrefix: identityInbox(who.name) };
}

/**
 * The identity's seed as the file holds it at each (re)connect, so a connection outlives a rotation
 * (`ferry creds rotate`): once the servers drop the old key they close the connections made with it,
 * and the reconnect signs with the new seed. Read once now, so a missing seed fails at once; while the
 * file is being replaced, the last seed read is used.
 */
function currentSeed(who: NatsIdentity): () => Uint8Array {
  let last = readSeed(who.home, who.name);
  return () => {
    try {
      last = readSeed(who.home, who.name);
    } catch {
      // keep the last one: the next reconnect reads the file again
    }
    return last;
  };
}
