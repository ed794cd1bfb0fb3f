import { stagingPrefix } from "../shared/chunk-keys.ts";
import { describeError } from "../shared/errors.ts";
import type { UploadedFile } from "../shared/sources/uploaded.ts";
import { resumeProblem, type UploadStaging, uploadToStaging } from "./upload.ts";
import { openUploadJournal, type UploadIdentity, type UploadJournal, uploadJournalDir } from "./upload-journal.ts";

/** Where an upload keeps its journal and tells the user what it does. */
export interface ResumeOptions {
  /** @default uploadJournalDir(): `$XDG_STATE_HOME/ferry/uploads` or `~/.local/state/ferry/uploads` */
  journalDir?: string;
  /** Hears one line when an upload resumes, or starts over because the file changed. */
  notify?: (line: string) => void;
}

/** An upload whose chunks are all staged: the id they are staged under, what the request carries, and its journal. */
export interface FinishedUpload {
  fileId: string;
  uploaded: UploadedFile;
  /** Remove it once the ingest request is published; until then a rerun goes on from it. */
  journal: UploadJournal;
}

/**
 * Uploads a file into `staging` (client/upload.ts), resuming an interrupted upload of the same file
 * to the same cloud: the journal names its file id and the chunks it staged, and only the rest are
 * read and written. A file that changed since (size, mtime, the last staged chunk's hash) or whose
 * staged chunks are gone starts over under a new id, and `notify` says why.
 */
export async function uploadResumably(
  staging: UploadStaging,
  upload: UploadIdentity,
  newFileId: () => string,
  options: ResumeOptions = {},
): Promise<FinishedUpload> {
  const dir = options.journalDir ?? uploadJournalDir();
  let { journal, note, abandoned } = await openUploadJournal(dir, upload, newFileId);
  const { fileId, chunks } = journal.entry;
  const problem = await resumeProblem(staging, fileId, upload.path, chunks);
  if (problem) {
    journal = journal.startOver(newFileId());
    note = `${upload.path}: ${problem} since its interrupted upload (file ${fileId}); uploading it from the start as a new file`;
    abandoned = fileId;
  }
  if (note) options.notify?.(note);
  if (abandoned) await removeStaged(staging, abandoned, options.notify);
  const uploaded = await uploadToStaging(staging, journal.entry.fileId, upload.path, upload, undefined, {
    staged: journal.entry.chunks.slice(),
    onStaged: (c) => journal.record(c),
  });
  return { fileId: journal.entry.fileId, uploaded, journal };
}

/** Removes what an abandoned upload staged: no ingest request will ever name it. A failure is only told. */
async function removeStaged(staging: UploadStaging, fileId: string, notify: ResumeOptions["notify"]): Promise<void> {
  const where = `${stagingPrefix(fileId)} in ${staging.cloud ?? "the cloud"}`;
  if (!staging.list || !staging.delete) {
    notify?.(`the abandoned upload's chunks (${where}) stay: a gateway signs no listing or deleting`);
    return;
  }
  try {
    for await (const o of staging.list(stagingPrefix(fileId))) await staging.delete(o.key);
  } catch (err) {
    notify?.(`could not remove the abandoned upload's chunks (${where}): ${describeError(err)}`);
  }
}
