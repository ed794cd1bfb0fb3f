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
  const seed = readSeed(who.home, who.name);
  return { authenticator: nkeyAuthenticator(seed), inboxPrefix: identityInbox(who.name) };
}
