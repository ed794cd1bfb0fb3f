import { createHash } from "node:crypto";
import { describeError, FerryError } from "../shared/errors.ts";
import type { ChunkRecord, ReplicaRecord } from "../shared/manifest.ts";
import type { CloudObjects } from "../shared/object-urls/gateway-objects.ts";

/** Where a reader gets a replica's bytes: a store opened with this machine's credentials, or a cloud's gateway. */
export type ReplicaSource = Pick<CloudObjects, "get">;

/** No replica of a chunk gave back its bytes; the message lists what each replica did. */
export class ReassemblyError extends FerryError {}

/** Which replicas a reader may use, and in which order. */
export interface ReplicaChoice {
  /** Read only this cloud's replicas. */
  from?: string;
  /** Cloud names, nearest first; replicas are tried in this order. */
  preference: string[];
  /** Told about every replica that was skipped, and why (for a warning on stderr). */
  onSkip?: (chunk: ChunkRecord, replica: ReplicaRecord, why: string) => void;
}

/** A chunk's verified replicas, nearest cloud first (only `from`'s when given). */
export function replicaCandidates(c: ChunkRecord, choice: ReplicaChoice): ReplicaRecord[] {
  const rank = (cloud: string) => {
    const i = choice.preference.indexOf(cloud);
    return i < 0 ? choice.preference.length : i;
  };
  return c.replicas
    .filter((r) => r.verified && (!choice.from || r.cloud === choice.from))
    .sort((a, b) => rank(a.cloud) - rank(b.cloud));
}

/**
 * One chunk's bytes from the first replica whose bytes hash to the chunk's SHA-256; a missing,
 * unreadable or corrupt replica is skipped for the next. Memory: one chunk.
 */
export async function readVerifiedChunk(
  stores: Map<string, ReplicaSource>,
  c: ChunkRecord,
  choice: ReplicaChoice,
  signal?: AbortSignal,
): Promise<Buffer> {
  const problems: string[] = [];
  for (const r of replicaCandidates(c, choice)) {
    signal?.throwIfAborted();
    const store = stores.get(r.cloud);
    if (!store) continue;
    let why: string;
    try {
      // One buffer of the chunk's size, filled in place: no second copy to join the pieces.
      const bytes = Buffer.allocUnsafe(c.size);
      let filled = 0;
      const h = createHash("sha256");
      for await (const piece of await store.get(r.key, signal ? { signal } : {})) {
        const p = piece as Buffer;
        h.update(p);
        if (filled + p.length <= c.size) p.copy(bytes, filled);
        filled += p.length;
      }
      const actual = h.digest("hex");
      if (actual === c.sha256 && filled === c.size) return bytes;
      why = filled === c.size ? `sha256 ${actual} instead of ${c.sha256}` : `${filled} bytes instead of ${c.size}`;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      why = describeError(err);
    }
    problems.push(`${r.cloud}: ${why}`);
    choice.onSkip?.(c, r, why);
  }
  throw new ReassemblyError(
    `chunk ${c.index} of file ${c.fileId} could not be read from any replica (${problems.join("; ") || "none verified"})`,
  );
}
