import { InputError } from "../shared/errors.ts";

/**
 * A byte range as a user writes it, HTTP style: `START-END` (both inclusive), `START-` (to the end
 * of the file) or `-N` (the last N bytes). Offsets are plain byte counts.
 */
export type ByteRangeSpec = { start: number; end?: number } | { suffix: number };

/** A range resolved against a file: first and last byte, inclusive; `length` 0 for nothing. */
export interface ByteRange {
  start: number;
  /** Inclusive; `start - 1` when the range is empty. */
  end: number;
  length: number;
}

const DIGITS = /^\d+$/;

/** Parses `--range`; a malformed value is an InputError that shows the accepted forms. */
export function parseByteRange(text: string): ByteRangeSpec {
  const bad = (why: string) =>
    new InputError(`--range ${JSON.stringify(text)}: ${why} (use START-END, START- or -N, in bytes; END is inclusive)`);
  const dash = text.indexOf("-");
  if (dash < 0 || text.indexOf("-", dash + 1) >= 0) throw bad("expected one dash");
  const [a, b] = [text.slice(0, dash), text.slice(dash + 1)];
  const num = (s: string, what: string) => {
    if (!DIGITS.test(s)) throw bad(`${what} is not a whole number of bytes`);
    const n = Number(s);
    if (!Number.isSafeInteger(n)) throw bad(`${what} is too large`);
    return n;
  };
  if (a === "") {
    if (b === "") throw bad("give a start, an end or both");
    return { suffix: num(b, "the suffix length") };
  }
  const start = num(a, "the start");
  if (b === "") return { start };
  const end = num(b, "the end");
  if (end < start) throw bad(`the end (${end}) is before the start (${start})`);
  return { start, end };
}

/**
 * Places a range on a file of `size` bytes. A start at or past the end of a non-empty file, or an
 * end past it, is an InputError naming the file's size: a reader asking for bytes that are not there
 * has a wrong offset, and silently short output would hide it.
 */
export function resolveByteRange(spec: ByteRangeSpec | undefined, size: number): ByteRange {
  if (spec === undefined) return { start: 0, end: size - 1, length: size };
  if ("suffix" in spec) {
    const length = Math.min(spec.suffix, size);
    return { start: size - length, end: size - 1, length };
  }
  const last = size - 1;
  if (size === 0) throw new InputError("--range: the file is empty, so it has no bytes to select (leave --range out)");
  if (spec.start > last)
    throw new InputError(`--range: the file is ${size} bytes, so the start must be at most ${last}`);
  if (spec.end !== undefined && spec.end > last)
    throw new InputError(`--range: the file is ${size} bytes, so the end must be at most ${last} (or leave it out)`);
  const end = spec.end ?? last;
  return { start: spec.start, end, length: end - spec.start + 1 };
}

/** The range as `START-END` for messages. */
export const formatByteRange = (r: ByteRange): string => `${r.start}-${r.end}`;
