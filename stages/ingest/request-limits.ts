import { PoisonMessageError } from "../../shared/errors.ts";

/**
 * The bounds an ingest request must stay within (README: "Ingesting from any NATS client"). A request
 * outside them is dead-lettered with a reason naming the field, the limit and the fix; nothing is read.
 */
export const REQUEST_LIMITS = {
  /** The whole request as published (NATS's default max_payload). */
  requestBytes: 1024 * 1024,
  /** `path` and `url`, in UTF-8 bytes: Linux's PATH_MAX, and room for a 1024-byte object key. */
  sourceBytes: 4096,
  /** The display `name`, in UTF-8 bytes. */
  nameBytes: 1024,
  /** `chunkSize`: a smaller one makes a file a flood of chunks, a larger one a flood of bytes per message. */
  minChunkSize: 1024,
  maxChunkSize: 1024 ** 3,
  /** Chunks one file may be cut into (1 TiB at 1 MiB chunks). */
  maxChunks: 1_048_576,
} as const;

/** The fields an ingest request may have; any other is refused, so a misspelt option is not silently ignored. */
export const REQUEST_FIELDS = [
  "path",
  "url",
  "uploaded",
  "fileId",
  "name",
  "chunkSize",
  "recordBoundaries",
  "transforms",
  "encryption",
] as const;

/** Throws PoisonMessageError naming the first field of `o` that is not one of `known`. */
export function refuseUnknownFields(o: Record<string, unknown>, known: readonly string[], what: string): void {
  const unknown = Object.keys(o).find((k) => !known.includes(k));
  if (unknown !== undefined)
    throw new PoisonMessageError(`${what} has unknown field ${shown(unknown)}: the fields are ${known.join(", ")}`);
}

/** Throws PoisonMessageError unless `v` is a string of at most `maxBytes` UTF-8 bytes (and, unless allowed, no NUL). */
export function boundedString(field: string, v: unknown, maxBytes: number, allowNul = false): string {
  if (typeof v !== "string") throw new PoisonMessageError(`ingest request field "${field}" must be a string`);
  const bytes = Buffer.byteLength(v, "utf8");
  if (bytes > maxBytes)
    throw new PoisonMessageError(
      `ingest request field "${field}" is ${bytes} bytes long, more than the ${maxBytes} allowed: shorten it`,
    );
  if (!allowNul && v.includes("\0"))
    throw new PoisonMessageError(`ingest request field "${field}" holds a NUL character: remove it`);
  return v;
}

/** A value as JSON for an error message, cut to 120 characters: a reason never carries a megabyte of input. */
export function shown(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 119)}…` : s;
}
