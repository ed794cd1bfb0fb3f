import type { FileRecord, ManifestReader } from "../shared/manifest.ts";
import { readFileRecord } from "../shared/manifest.ts";
import type { StoredDeadLetter } from "./dead-letters.ts";

/**
 * How a replay went: the dead letter it wrote (`again`, its number) when it failed again, else the
 * state of its file now.
 */
export function replayOutcome(
  r: { fileId?: string | undefined; again?: number | undefined },
  file?: FileRecord,
): string {
  if (r.again !== undefined) return `failed again (dead letter #${r.again})`;
  if (!file) return r.fileId ? "in flight" : "published again (no file to follow)";
  if (file.state === "complete") return "file complete";
  if (file.state === "failed") return "failed again";
  if (file.state === "durable") return "file durable";
  return `in flight (${file.state})`;
}

/** The file records of the replayed letters among `letters`, by file id. */
export async function replayedFiles(kv: ManifestReader, letters: StoredDeadLetter[]): Promise<Map<string, FileRecord>> {
  const out = new Map<string, FileRecord>();
  for (const l of letters) {
    const id = l.replayed?.fileId ?? l.fileId;
    if (!l.replayed || !id || out.has(id)) continue;
    const f = await readFileRecord(kv, id);
    if (f) out.set(id, f);
  }
  return out;
}
