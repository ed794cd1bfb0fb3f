/** Object keys, built only from ids and hashes. Replica keys are content-derived: a retry writes the same key. */

/** Every staged chunk's key starts with this. */
export const STAGING_ROOT = "staging/";
/** Every replica's key starts with this. */
export const REPLICA_ROOT = "chunks/";

/** Where the ingesting cloud keeps a chunk until the file is complete. */
export const stagingPrefix = (fileId: string): string => `${STAGING_ROOT}${fileId}/`;
export const stagingKey = (fileId: string, index: number): string => `${stagingPrefix(fileId)}${index}`;

/** The final home of a chunk's replica in every target store. */
export const replicaPrefix = (fileId: string): string => `${REPLICA_ROOT}${fileId}/`;
export const replicaKey = (fileId: string, index: number, sha256: string): string =>
  `${replicaPrefix(fileId)}${index}-${sha256}`;
