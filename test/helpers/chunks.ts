import { replicaKey } from "../../shared/chunk-keys.ts";
import type { ChunkRecord } from "../../shared/manifest.ts";
import { sha256 } from "./files.ts";

/** What a chunk record says about where the chunk is and which of its replicas were verified. */
export interface ChunkSummary {
  index: number;
  offset: number;
  size: number;
  sha256: string;
  /** Sorted by cloud. */
  replicas: Array<{ cloud: string; key: string; verified: boolean }>;
}

export const chunkSummary = (c: ChunkRecord): ChunkSummary => ({
  index: c.index,
  offset: c.offset,
  size: c.size,
  sha256: c.sha256,
  replicas: [...c.replicas]
    .sort((a, b) => a.cloud.localeCompare(b.cloud))
    .map((r) => ({ cloud: r.cloud, key: r.key, verified: r.verified })),
});

/**
 * The chunk summaries of a complete file cut at exactly `chunkSize` (no record boundaries), derived
 * from its bytes alone: every chunk in order, with a verified replica in each of `clouds` under its
 * content key.
 */
export function expectedChunks(fileId: string, data: Buffer, chunkSize: number, clouds: string[]): ChunkSummary[] {
  const out: ChunkSummary[] = [];
  for (let offset = 0, index = 0; offset < data.length; offset += chunkSize, index++) {
    const bytes = data.subarray(offset, offset + chunkSize);
    const sha = sha256(bytes);
    const replicas = [...clouds]
      .sort()
      .map((cloud) => ({ cloud, key: replicaKey(fileId, index, sha), verified: true }));
    out.push({ index, offset, size: bytes.length, sha256: sha, replicas });
  }
  return out;
}

/** The names an fs store holds under `chunks/<fileId>/` for these chunks: `<index>-<sha256>`, sorted. */
export const replicaNames = (chunks: ChunkSummary[]): string[] => chunks.map((c) => `${c.index}-${c.sha256}`).sort();
