import { createHash, randomBytes } from "node:crypto";
import { InputError } from "./errors.ts";

const FILE_ID = /^[a-z0-9][a-z0-9-]{5,63}$/;

/** A new random file id: 20 hex characters. */
export function newFileId(): string {
  return randomBytes(10).toString("hex");
}

/** The file id of a request that came without one: derived from its stream sequence, so redelivery keeps it. */
export function fileIdFromSequence(stream: string, seq: number): string {
  return createHash("sha256").update(`${stream}:${seq}`).digest("hex").slice(0, 20);
}

/** Whether `id` is a usable file id (lower-case letters, digits, dashes; 6-64 chars). */
export const isFileId = (id: unknown): id is string => typeof id === "string" && FILE_ID.test(id);

/** Throws InputError unless `id` is a usable file id (lower-case letters, digits, dashes; 6-64 chars). */
export function assertFileId(id: unknown): asserts id is string {
  if (!isFileId(id)) {
    throw new InputError(
      `fileId ${JSON.stringify(id)?.slice(0, 80)} is not valid: use 6-64 lower-case letters, digits or dashes`,
    );
  }
}
