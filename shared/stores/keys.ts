import { InputError } from "../errors.ts";

/**
 * Store keys are built by the project from ids and hashes, so a narrow alphabet costs nothing and
 * keeps every key portable: a file path on `fs`, an object name on S3, GCS and Azure alike.
 */
const SEGMENT = /^[A-Za-z0-9._-]+$/;
export const MAX_KEY_LENGTH = 512;
/** File systems cap a path component at 255 bytes (NAME_MAX); a key valid on one store is valid on all. */
export const MAX_SEGMENT_LENGTH = 255;

/**
 * Throws InputError unless `key` is `/`-separated `[A-Za-z0-9._-]+` segments (no `.`, `..`, each at
 * most 255 chars), at most 512 chars in all.
 */
export function assertValidKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) throw new InputError(`invalid store key ${show(key)}: ${problem}`);
}

/** Whether `key` passes assertValidKey; for skipping foreign names found in a store. */
export function isValidKey(key: string): boolean {
  return keyProblem(key) === undefined;
}

/** Like assertValidKey, but the empty prefix and a trailing `/` are allowed. */
export function assertValidPrefix(prefix: string): void {
  if (prefix === "") return;
  const body = typeof prefix === "string" && prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  const problem = keyProblem(body);
  if (problem !== undefined) throw new InputError(`invalid store key prefix ${show(prefix)}: ${problem}`);
}

function keyProblem(key: unknown): string | undefined {
  if (typeof key !== "string") return `expected a string, got ${typeof key}`;
  if (key === "") return "it is empty";
  if (key.length > MAX_KEY_LENGTH) return `it is ${key.length} characters long (at most ${MAX_KEY_LENGTH})`;
  if (key.startsWith("/") || key.endsWith("/")) return "it must not start or end with /";
  for (const segment of key.split("/")) {
    if (segment === "") return "it has an empty segment (//)";
    if (segment === "." || segment === "..") return `it has a ${segment} segment`;
    if (!SEGMENT.test(segment)) return `segment ${show(segment)} has characters outside [A-Za-z0-9._-]`;
    if (segment.length > MAX_SEGMENT_LENGTH) {
      return `segment ${show(segment)} is ${segment.length} characters long (at most ${MAX_SEGMENT_LENGTH})`;
    }
  }
  return undefined;
}

/** Quoted and escaped so control characters and odd Unicode are visible; long keys are cut. */
function show(value: unknown): string {
  const text = String(value);
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
