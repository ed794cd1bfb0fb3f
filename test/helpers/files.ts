import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { pollUntil } from "../../shared/retry.ts";

/** Writes `size` random bytes to `path` and returns their SHA-256. */
export function writeRandomFile(path: string, size: number): string {
  const data = randomBytes(size);
  writeFileSync(path, data);
  return sha256(data);
}

export const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");
export const sha256File = (path: string): string => sha256(readFileSync(path));

/** Every regular file under `dir` (recursively), as paths relative to it; [] when it does not exist. */
export function listFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...listFiles(p).map((x) => join(e, x)));
    else out.push(relative(dir, p));
  }
  return out.sort();
}

/**
 * Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`; a check
 * that throws fails at once.
 */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
  what = "condition",
): Promise<T> {
  let value: T | undefined;
  await pollUntil(
    what,
    async () => {
      value = await check();
      return value !== undefined;
    },
    { timeoutMs, intervalMs: 200, retryable: () => false },
  );
  return value as T;
}
