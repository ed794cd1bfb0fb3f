import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { ChecksumMismatchError, InputError } from "../errors.ts";
import { chunksOf } from "./body.ts";
import type { PutResult } from "./types.ts";

const SHA256_HEX = /^[0-9a-f]{64}$/i;

/** A put's body on its way to an upload helper, hashed as it passes. */
export interface HashingBody {
  /** The body's chunks; ends only when every byte has passed and matched `expectedSha256`. */
  readonly chunks: AsyncGenerator<Uint8Array>;
  /** Size and SHA-256 of what passed; complete once `chunks` has ended. */
  result(): PutResult;
  /** Whether `err` is what the body itself threw, to be passed on unchanged rather than as a store error. */
  isBodyError(err: unknown): boolean;
}

/**
 * `expectedSha256` in lower case, or undefined when not given.
 * @throws InputError when it is not 64 hex digits; `at` says which put.
 */
export function checkedSha256(expectedSha256: string | undefined, at: string): string | undefined {
  if (expectedSha256 === undefined) return undefined;
  if (!SHA256_HEX.test(expectedSha256)) {
    throw new InputError(`${at}: expectedSha256 ${JSON.stringify(expectedSha256)} is not 64 hex digits`);
  }
  return expectedSha256.toLowerCase();
}

/**
 * Wraps `body` so an upload helper can stream it: the hash is computed on the way, and where a
 * plain stream would end, this one throws ChecksumMismatchError when the bytes do not hash to
 * `expectedSha256`. Upload helpers commit only after their body has ended, so a mismatch makes them
 * abort instead of publishing. An abort of `signal` fails the chunks at once, even on a stalled body.
 */
export function hashingBody(
  body: Readable | AsyncIterable<Uint8Array>,
  options: { expectedSha256?: string | undefined; signal?: AbortSignal | undefined; at: string },
): HashingBody {
  const hash = createHash("sha256");
  let size = 0;
  let sha256 = "";
  let bodyError: { error: unknown } | undefined;

  async function* chunks(): AsyncGenerator<Uint8Array> {
    const source = chunksOf(body, options.signal, options.at);
    let done = false;
    try {
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await source.next();
        } catch (err) {
          if (!options.signal?.aborted) bodyError = { error: err };
          throw err;
        }
        if (next.done) break;
        hash.update(next.value);
        size += next.value.length;
        yield next.value;
      }
      done = true;
      sha256 = hash.digest("hex");
      if (options.expectedSha256 !== undefined && sha256 !== options.expectedSha256) {
        throw new ChecksumMismatchError(
          `${options.at}: refused, nothing was published`,
          options.expectedSha256,
          sha256,
        );
      }
    } finally {
      // Left at a yield (or failed there): the source waits at its own yield, so this releases the body at once.
      if (!done) void source.return(undefined);
    }
  }

  return {
    chunks: chunks(),
    result: () => ({ size, sha256 }),
    isBodyError: (err) => bodyError !== undefined && bodyError.error === err,
  };
}
