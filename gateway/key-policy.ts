import { REPLICA_ROOT, STAGING_ROOT } from "../shared/chunk-keys.ts";
import type { ObjectUrlOp } from "../shared/object-urls/protocol.ts";
import { isValidKey } from "../shared/stores/keys.ts";

/**
 * Why `op` on `key` may not be signed, or undefined when it may. A gateway signs only the
 * project's own objects: reads of staged chunks and replicas, writes of staged chunks (replicas are
 * written by the cloud's own workers, with its own credentials, never through a URL).
 */
export function keyRefusal(op: ObjectUrlOp, key: string): string | undefined {
  if (!isValidKey(key))
    return `key ${JSON.stringify(key)} is not an object key ("/"-separated [A-Za-z0-9._-] segments)`;
  if (op === "put") {
    return key.startsWith(STAGING_ROOT)
      ? undefined
      : `key ${key}: upload URLs are issued only under ${STAGING_ROOT}, the staging area`;
  }
  return key.startsWith(STAGING_ROOT) || key.startsWith(REPLICA_ROOT)
    ? undefined
    : `key ${key}: URLs are issued only for staged chunks (${STAGING_ROOT}) and replicas (${REPLICA_ROOT})`;
}
