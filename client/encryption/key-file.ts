/**
 * The deployment key: 32 random bytes the operator holds, in a file of its own (mode 0600) as 64 hex
 * digits. It wraps every encrypted file's data key; ferry never logs it, sends it or stores it.
 */
import { createHmac, randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { open, readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { InputError } from "../../shared/errors.ts";

/** The environment variable naming the key file when `--key-file` is not given. */
export const KEY_FILE_ENV = "FERRY_ENCRYPTION_KEY_FILE";

/** A loaded deployment key: where it came from, its fingerprint, and the bytes (never print them). */
export interface EncryptionKey {
  path: string;
  /** HMAC-SHA256 of a fixed label under the key, first 16 bytes in hex: names the key, reveals nothing of it. */
  keyId: string;
  key: Buffer;
}

const KEY_TEXT = /^[0-9a-f]{64}$/;

/** The key's fingerprint, as the manifest records it. */
export const keyIdOf = (key: Buffer): string =>
  createHmac("sha256", key).update("ferry key id v1").digest().subarray(0, 16).toString("hex");

/** Writes a new random key to `path` (created 0600, never over an existing file) and returns it. */
export async function createKeyFile(path: string): Promise<EncryptionKey> {
  const key = randomBytes(32);
  const at = resolve(path);
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(at, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST")
      throw new InputError(`${at} already exists: a key is never overwritten; choose another path`);
    throw new InputError(`cannot create the key file ${at} (${code}): check the folder exists and is writable`);
  }
  try {
    await fh.writeFile(`${key.toString("hex")}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { path: at, keyId: keyIdOf(key), key };
}

/** The key file to use: `--key-file`, else FERRY_ENCRYPTION_KEY_FILE, else undefined. */
export function keyFileChoice(option: string | undefined): string | undefined {
  return option ?? (process.env[KEY_FILE_ENV] || undefined);
}

/**
 * Reads a key file. Refuses, with the fix, a file that is missing, readable by others (as ssh does),
 * or not 64 hex digits; the message never quotes the file's content.
 */
export async function loadKeyFile(path: string): Promise<EncryptionKey> {
  const at = resolve(path);
  let mode: number;
  try {
    mode = (await stat(at)).mode;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`cannot read the key file ${at} (${code}): give the file ferry keygen wrote`);
  }
  if ((mode & 0o077) !== 0)
    throw new InputError(
      `the key file ${at} is readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 ${at}`,
    );
  const text = (await readFile(at, "utf8")).trim();
  if (!KEY_TEXT.test(text))
    throw new InputError(`${at} is not a ferry key file (expected 64 lower-case hex digits, as ferry keygen writes)`);
  const key = Buffer.from(text, "hex");
  return { path: at, keyId: keyIdOf(key), key };
}
