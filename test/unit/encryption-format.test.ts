/**
 * The encrypted-file format on its own (client/encryption/): segments round-trip at every size that
 * matters, and a segment changed, moved, dropped or taken from another file never decrypts; the
 * data key opens only with the deployment key it was wrapped with, under the header it was wrapped with.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { newFileKeys, openFileKeys } from "../../client/encryption/envelope.ts";
import { createKeyFile, type EncryptionKey, keyIdOf, loadKeyFile } from "../../client/encryption/key-file.ts";
import { DecryptionError, openSegments, type SegmentKey, sealSegments } from "../../client/encryption/segments.ts";
import { ciphertextSize, parseFileEncryption, TAG_BYTES } from "../../shared/crypto/file-encryption.ts";
import { InputError } from "../../shared/errors.ts";

const S = 64 * 1024;
const dir = mkdtempSync(join(tmpdir(), "ferry-crypt-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const master = (): EncryptionKey => {
  const key = randomBytes(32);
  return { path: "/keys/test.key", keyId: keyIdOf(key), key };
};

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The sealed segments of `plain` (file id f1), in pieces of odd sizes as a store hands them out. */
async function seal(plain: Buffer, m = master(), fileId = "f1") {
  const keys = newFileKeys(m, fileId, plain.length);
  const pieces = async function* () {
    for (let at = 0; at < plain.length; at += 10_007) yield plain.subarray(at, at + 10_007);
  };
  return { keys, m, segments: await collect(sealSegments(keys.segments, 0, pieces())) };
}

async function open(k: SegmentKey, segments: Buffer[], span = { first: 0, last: k.total - 1 }): Promise<Buffer> {
  async function* pieces() {
    const all = Buffer.concat(segments);
    for (let at = 0; at < all.length; at += 7_001) yield all.subarray(at, at + 7_001);
  }
  const out = await collect(openSegments(k, span, pieces(), "file f1"));
  return Buffer.concat(out.map((o) => o.plain));
}

describe("segments", () => {
  it.each([0, 1, S - 1, S, S + 1, 3 * S + 5])("round-trip %i plaintext bytes, one tag per segment", async (n) => {
    const plain = randomBytes(n);
    const { keys, segments } = await seal(plain);
    expect(segments.length).toBe(Math.max(1, Math.ceil(n / S)));
    const sealedBytes = Buffer.concat(segments);
    expect(sealedBytes.length).toBe(ciphertextSize({ plaintextSize: n, segmentSize: S }));
    if (n >= 32) expect(sealedBytes.includes(plain.subarray(0, 32))).toBe(false);
    expect((await open(keys.segments, segments)).equals(plain)).toBe(true);
  });

  it("opens a span of segments alone (what a range read does)", async () => {
    const plain = randomBytes(4 * S + 9);
    const { keys, segments } = await seal(plain);
    const got = await open(keys.segments, segments.slice(2, 5), { first: 2, last: 4 });
    expect(got.equals(plain.subarray(2 * S))).toBe(true);
  });

  it("refuses a flipped byte, naming the segment", async () => {
    const { keys, segments } = await seal(randomBytes(3 * S));
    segments[1]![100]! ^= 1;
    await expect(open(keys.segments, segments)).rejects.toThrow(/segment 1 of file f1 failed authentication/);
  });

  it("refuses segments swapped with each other", async () => {
    const { keys, segments } = await seal(randomBytes(3 * S));
    const swapped = [segments[1]!, segments[0]!, segments[2]!];
    await expect(open(keys.segments, swapped)).rejects.toThrow(/segment 0 of file f1 failed authentication/);
  });

  it("refuses a file cut short: a missing last segment, and the reader told of one segment fewer", async () => {
    const { keys, segments } = await seal(randomBytes(3 * S));
    await expect(open(keys.segments, segments.slice(0, 2))).rejects.toThrow(/segment 2 of file f1 is missing/);
    // A manifest rewritten to say two segments: segment 1 was not sealed as the last one.
    const fewer = { ...keys.segments, total: 2 };
    await expect(open(fewer, segments.slice(0, 2))).rejects.toThrow(/segment 1 of file f1 failed authentication/);
    // The tail of the last segment cut off.
    const cut = [...segments.slice(0, 2), segments[2]!.subarray(0, S)];
    await expect(open(keys.segments, cut)).rejects.toThrow(DecryptionError);
  });

  it("refuses bytes past the last segment", async () => {
    const { keys, segments } = await seal(randomBytes(2 * S));
    await expect(open(keys.segments, [...segments, Buffer.alloc(TAG_BYTES)])).rejects.toThrow(/past its last segment/);
  });

  it("refuses a segment taken from another file under the same deployment key", async () => {
    const m = master();
    const a = await seal(randomBytes(2 * S), m, "fa");
    const b = await seal(randomBytes(2 * S), m, "fb");
    const mixed = [a.segments[0]!, b.segments[1]!];
    await expect(open(a.keys.segments, mixed)).rejects.toThrow(/segment 1 of file f1 failed authentication/);
  });
});

describe("the data key and its wrap", () => {
  const header = (keys: ReturnType<typeof newFileKeys>) => ({ ...keys.header, plaintextMac: "0".repeat(64) });

  it("unwraps with the deployment key, for the file id and header it was wrapped with", () => {
    const m = master();
    const keys = newFileKeys(m, "f1", 1000);
    expect(openFileKeys(m, "f1", header(keys)).segments.key.equals(keys.segments.key)).toBe(true);
  });

  it("a wrong key fails with both key ids and the fix, never a wrong plaintext", () => {
    const keys = newFileKeys(master(), "f1", 1000);
    const other = master();
    const err = (() => {
      try {
        openFileKeys(other, "f1", header(keys));
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(InputError);
    expect(err?.message).toBe(
      `the key in /keys/test.key (key id ${other.keyId}) does not match key id ${keys.header.keyId} that file f1 was encrypted with: give that key's file`,
    );
  });

  it("a header changed in the manifest, or copied to another file id, does not unwrap", () => {
    const m = master();
    const keys = newFileKeys(m, "f1", 1000);
    expect(() => openFileKeys(m, "f1", { ...header(keys), plaintextSize: 999 })).toThrow(
      /file f1's encryption header failed authentication/,
    );
    expect(() => openFileKeys(m, "f2", header(keys))).toThrow(DecryptionError);
  });

  it("the manifest's header is checked field by field", () => {
    const keys = newFileKeys(master(), "f1", 10);
    const bad = (why: string) => new Error(why);
    expect(parseFileEncryption(header(keys), bad)).toEqual(header(keys));
    expect(() => parseFileEncryption({ ...header(keys), key: "x" }, bad)).toThrow(/unknown field "key"/);
    expect(() => parseFileEncryption({ ...header(keys), cipher: "none" }, bad)).toThrow(/"cipher" must be/);
    expect(() => parseFileEncryption({ ...header(keys), wrappedKey: "AAAA" }, bad)).toThrow(/"wrappedKey" must be 60/);
  });
});

describe("key files", () => {
  it("keygen writes 64 hex digits, 0600, never over a file; the key id is a fingerprint, not the key", async () => {
    const path = join(dir, "k1.key");
    const made = await createKeyFile(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8")).toMatch(/^[0-9a-f]{64}\n$/);
    const loaded = await loadKeyFile(path);
    expect(loaded.key.equals(made.key)).toBe(true);
    expect(loaded.keyId).toMatch(/^[0-9a-f]{32}$/);
    expect(made.key.toString("hex")).not.toContain(loaded.keyId);
    await expect(createKeyFile(path)).rejects.toThrow(/already exists: a key is never overwritten/);
  });

  it("refuses a key file others can read, or one that is not a key, without quoting it", async () => {
    const path = join(dir, "k2.key");
    writeFileSync(path, `${"ab".repeat(32)}\n`, { mode: 0o644 });
    chmodSync(path, 0o644);
    await expect(loadKeyFile(path)).rejects.toThrow(`the key file ${path} is readable by others (mode 644): chmod 600`);
    writeFileSync(join(dir, "k3.key"), "secret-password\n", { mode: 0o600 });
    const err = await loadKeyFile(join(dir, "k3.key")).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/is not a ferry key file \(expected 64 lower-case hex digits/);
    expect((err as Error).message).not.toContain("secret-password");
    await expect(loadKeyFile(join(dir, "none.key"))).rejects.toThrow(/cannot read the key file .* \(ENOENT\)/);
  });
});
