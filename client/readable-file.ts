import { InputError } from "../shared/errors.ts";
import {
  type ChunkRecord,
  type FileRecord,
  type ManifestReader,
  readChunkRecords,
  readFileRecord,
} from "../shared/manifest.ts";
import { ReassemblyError, type ReplicaChoice, type ReplicaSource, replicaCandidates } from "./replica-read.ts";

/** A file that can be read back: its record and every chunk's, in order. */
export interface ReadableFile {
  file: FileRecord;
  chunks: ChunkRecord[];
}

/**
 * Looks a file up for reading (`get`, `cat`): it must exist, be fully ingested, and every chunk must
 * have a verified replica the reader may use, so a read fails before its first byte, not halfway.
 */
export async function findReadableFile(
  kv: ManifestReader,
  stores: Map<string, ReplicaSource>,
  fileId: string,
  choice: ReplicaChoice,
): Promise<ReadableFile> {
  const file = await readFileRecord(kv, fileId);
  if (!file) throw new InputError(`no file with id ${fileId}: list files with ./ferry status`);
  if (file.chunkCount === undefined)
    throw new ReassemblyError(`file ${fileId} is still being ingested (${file.state})`);
  if (choice.from && !stores.has(choice.from))
    throw new InputError(`--from ${choice.from}: no such cloud (clouds: ${[...stores.keys()].join(", ")})`);
  const chunks = await readChunkRecords(kv, file);
  if (chunks.length !== file.chunkCount)
    throw new ReassemblyError(`file ${fileId} has ${chunks.length} of ${file.chunkCount} chunk records`);
  for (const c of chunks) {
    if (replicaCandidates(c, choice).length === 0) {
      throw new ReassemblyError(
        `chunk ${c.index} of file ${fileId} has no verified replica${choice.from ? ` on ${choice.from}` : ""} yet (file is ${file.state})`,
      );
    }
  }
  return { file, chunks };
}
