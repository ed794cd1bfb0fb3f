/**
 * An ingest request's `encryption` field, as the ingest worker checks it without any key: only with
 * chunks the client uploaded, well-formed, and consistent with the ciphertext's size.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { newFileKeys } from "../../client/encryption/envelope.ts";
import { keyIdOf } from "../../client/encryption/key-file.ts";
import { checkProjectedEvent } from "../../orchestrator/event-shapes.ts";
import { ciphertextSize } from "../../shared/crypto/file-encryption.ts";
import { UntrustedEventError } from "../../shared/errors.ts";
import { parseIngestRequest } from "../../stages/ingest/request.ts";

const parse = (v: unknown) => parseIngestRequest(new TextEncoder().encode(JSON.stringify(v)), 7, 1024);
const key = randomBytes(32);
const keys = newFileKeys({ path: "k", keyId: keyIdOf(key), key }, "enc-file-1", 100_000);
const encryption = { ...keys.header, plaintextMac: "b".repeat(64) };
const size = ciphertextSize(encryption);
const uploaded = { size, sha256: "a".repeat(64), chunks: [{ offset: 0, size, sha256: "c".repeat(64) }] };

describe("ingest request field encryption", () => {
  it("is carried as given when it matches the uploaded ciphertext", () => {
    const r = parse({ fileId: "enc-file-1", name: "x.jsonl", uploaded, encryption });
    expect(r.encryption).toEqual(encryption);
    expect(size).toBe(100_000 + 2 * 16);
  });

  it.each<[string, unknown, RegExp]>([
    ["without uploaded chunks", { path: "/data/x", encryption }, /only a client that uploads its chunks encrypts them/],
    [
      "a size that is not the ciphertext's",
      { fileId: "enc-file-1", uploaded, encryption: { ...encryption, plaintextSize: 5 } },
      /5 plaintext bytes make 21 of ciphertext, not the 100032 uploaded/,
    ],
    [
      "an unknown field",
      { fileId: "enc-file-1", uploaded, encryption: { ...encryption, key: "00" } },
      /unknown field "key"/,
    ],
    [
      "a malformed key id",
      { fileId: "enc-file-1", uploaded, encryption: { ...encryption, keyId: "xyz" } },
      /"keyId" must be 32 lower-case hex digits/,
    ],
    ["a string", { fileId: "enc-file-1", uploaded, encryption: "yes" }, /expected an object/],
  ])("refuses one %s", (_what, request, reason) => {
    expect(() => parse(request)).toThrow(reason);
  });
});

describe("files.accepted with encryption, as the orchestrator checks it", () => {
  const accepted = { fileId: "enc-file-1", name: "x", size, chunkSize: 1024, replicas: 3, encryption };

  it("passes a well-formed header and refuses a malformed one as untrusted", () => {
    expect(() => checkProjectedEvent("files.accepted", "aws", accepted)).not.toThrow();
    const bad = { ...accepted, encryption: { ...encryption, cipher: "rot13" } };
    expect(() => checkProjectedEvent("files.accepted", "aws", bad)).toThrow(UntrustedEventError);
    expect(() => checkProjectedEvent("files.accepted", "aws", bad)).toThrow(/field "encryption": "cipher" must be/);
  });
});
