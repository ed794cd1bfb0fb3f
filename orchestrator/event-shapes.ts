/**
 * What the orchestrator checks of an event before it projects it. Events reach the hub from every
 * cloud's stream, so each is checked as untrusted input: its fields (shared/event-checks.ts), and
 * that the object keys and cloud it names are its own: a chunk staged or placed by the cloud in the
 * subject's last token, under the chunk's own key. A failing check throws UntrustedEventError: the
 * event is skipped with its reason in the log, and nothing of it reaches the manifest.
 */
import { FILE_DIGEST_KINDS } from "../shared/chunk-digest.ts";
import { parseFileEncryption } from "../shared/crypto/file-encryption.ts";
import { UntrustedEventError } from "../shared/errors.ts";
import {
  checkChunkRef,
  checkReplica,
  checkStaging,
  MAX_CHUNKS,
  MAX_REPAIRS,
  SCRUB_PASS,
  wholeNumber,
} from "../shared/event-checks.ts";
import { isFileId } from "../shared/ids.ts";
import { REPLAYED_TYPE } from "../shared/subjects.ts";

/** Longest name an event may give a file (a request's name or a source path's base name is shorter). */
const MAX_TEXT_BYTES = 8192;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const MAX_FILE_BYTES = 2 ** 50;

const text = (v: unknown): boolean => typeof v === "string" && Buffer.byteLength(v) <= MAX_TEXT_BYTES;

function refuse(what: string, field: string, rule: string, v: unknown): never {
  throw new UntrustedEventError(`${what} field "${field}" must be ${rule}, got ${JSON.stringify(v)?.slice(0, 80)}`);
}

/** Throws UntrustedEventError unless `e`, an event of `type` from `cloud`, is what that type says. */
export function checkProjectedEvent(type: string, cloud: string, e: Record<string, unknown>): void {
  const what = `${type} event from ${cloud}`;
  if (type.startsWith("deadletter.")) {
    checkDeadLetter(what, e);
    return;
  }
  if (type === REPLAYED_TYPE) {
    checkReplayed(what, e);
    return;
  }
  if (!isFileId(e.fileId)) refuse(what, "fileId", "6-64 lower-case letters, digits or dashes", e.fileId);
  if (type === "files.accepted" || type === "files.ingested") {
    checkFileEvent(type, what, e);
    return;
  }
  const chunk = checkChunkRef(e, what);
  if (type === "chunks.ingested") checkStaging(chunk, what, [cloud]);
  if (type === "chunks.placed" || type === "chunks.verified") checkReplica(chunk, what, cloud);
  if (type === "chunks.verified" && e.scrub !== undefined) checkVerifiedScrub(what, e.scrub);
  if (e.durationMs !== undefined) wholeNumber(e, what, "durationMs", 0, 2 ** 40);
}

function checkFileEvent(type: string, what: string, e: Record<string, unknown>): void {
  if (e.name !== undefined && !text(e.name)) refuse(what, "name", `text of at most ${MAX_TEXT_BYTES} bytes`, e.name);
  wholeNumber(e, what, "size", 0, MAX_FILE_BYTES);
  if (type === "files.accepted") {
    wholeNumber(e, what, "chunkSize", 1, 1024 ** 3);
    wholeNumber(e, what, "replicas", 1, 64);
    // An encrypted file's header: only its form can be checked here, as only the key holder can unwrap it.
    if (e.encryption !== undefined)
      parseFileEncryption(e.encryption, (why) => new UntrustedEventError(`${what} field "encryption": ${why}`));
    return;
  }
  if (typeof e.sha256 !== "string" || !SHA256_HEX.test(e.sha256))
    refuse(what, "sha256", "64 lower-case hex digits", e.sha256);
  wholeNumber(e, what, "chunkCount", 0, MAX_CHUNKS);
  if (e.digest !== undefined && !(FILE_DIGEST_KINDS as readonly unknown[]).includes(e.digest))
    refuse(what, "digest", FILE_DIGEST_KINDS.join(" or "), e.digest);
}

/** A verified event's scrub mark: the pass, and how many times the replica was written again. */
function checkVerifiedScrub(what: string, mark: unknown): void {
  const m = mark as Record<string, unknown>;
  if (typeof m !== "object" || m === null || typeof m.pass !== "string" || !SCRUB_PASS.test(m.pass))
    refuse(what, "scrub", "a scrub mark {pass, repairs}", mark);
  wholeNumber({ "scrub.repairs": m.repairs }, what, "scrub.repairs", 0, MAX_REPAIRS);
}

function checkDeadLetter(what: string, e: Record<string, unknown>): void {
  if (e.fileId !== undefined && !isFileId(e.fileId)) refuse(what, "fileId", "a file id", e.fileId);
  if (e.index !== undefined) wholeNumber(e, what, "index", 0, MAX_CHUNKS - 1);
  // Any length: the projection keeps the start of a long reason.
  for (const f of ["stage", "reason"]) if (typeof e[f] !== "string") refuse(what, f, "text", e[f]);
}

/** A replay names the letter it replayed, and its file when the letter had one. */
function checkReplayed(what: string, e: Record<string, unknown>): void {
  if (e.fileId !== undefined && !isFileId(e.fileId)) refuse(what, "fileId", "a file id", e.fileId);
  wholeNumber(e, what, "letterSeq", 1, Number.MAX_SAFE_INTEGER);
  if (typeof e.at !== "string") refuse(what, "at", "text", e.at);
}
