import { describe, expect, it } from "vitest";
import { chunkListDigest } from "../../shared/chunk-digest.ts";
import { PoisonMessageError } from "../../shared/errors.ts";
import { parseIngestRequest } from "../../stages/ingest/request.ts";

const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
const parse = (v: unknown) => parseIngestRequest(enc(v), 7, 1024);

describe("parseIngestRequest", () => {
  it("fills defaults: a stable id from the stream sequence, the base name, record cuts for line formats", () => {
    const r = parse({ path: "/data/train.jsonl" });
    expect(r).toMatchObject({
      source: "/data/train.jsonl",
      name: "train.jsonl",
      chunkSize: 1024,
      recordBoundaries: true,
      transforms: [],
    });
    expect(r.fileId).toMatch(/^[0-9a-f]{20}$/);
    expect(parse({ path: "/data/train.jsonl" }).fileId).toBe(r.fileId);
    expect(parse({ path: "/data/x.bin" }).recordBoundaries).toBe(false);
    expect(
      parse({ path: "/x", chunkSize: "2KiB", recordBoundaries: true, transforms: ["validate-jsonl"] }),
    ).toMatchObject({ chunkSize: 2048, recordBoundaries: true, transforms: ["validate-jsonl"] });
  });

  it("takes an object URL instead of a path, named after the object", () => {
    expect(parse({ url: "s3://bucket/datasets/train.jsonl" })).toMatchObject({
      source: "s3://bucket/datasets/train.jsonl",
      name: "train.jsonl",
      recordBoundaries: true,
    });
    expect(parse({ url: "gs://b/x.bin" }).source).toBe("gs://b/x.bin");
    expect(parse({ url: "az://container/a/b c.csv" }).name).toBe("b c.csv");
  });

  it("takes a client's uploaded chunks when they add up to the file, with the id they were staged under", () => {
    const sha = (c: string) => c.repeat(64);
    const uploaded = {
      size: 15,
      sha256: sha("a"),
      chunks: [
        { offset: 0, size: 10, sha256: sha("b") },
        { offset: 10, size: 5, sha256: sha("c") },
      ],
    };
    expect(parse({ fileId: "staged-1", name: "x.jsonl", uploaded })).toMatchObject({
      fileId: "staged-1",
      source: "upload:staged-1",
      name: "x.jsonl",
      uploaded,
    });
  });

  it("takes a resumed upload's chunk-list digest only when it is the digest of the chunks listed", () => {
    const chunks = [
      { offset: 0, size: 10, sha256: "b".repeat(64) },
      { offset: 10, size: 5, sha256: "c".repeat(64) },
    ];
    const uploaded = { size: 15, sha256: chunkListDigest(chunks), chunks, digest: "chunk-list" };
    expect(parse({ fileId: "resumed-1", uploaded }).uploaded).toEqual(uploaded);
    const wrong = { ...uploaded, sha256: "a".repeat(64) };
    expect(() => parse({ fileId: "resumed-1", uploaded: wrong })).toThrow(
      /"sha256" is not the chunk-list digest of the chunks listed/,
    );
    expect(() => parse({ fileId: "resumed-1", uploaded: { ...uploaded, digest: "md5" } })).toThrow(
      /"digest" must be one of \["sha256","chunk-list"\], got "md5"/,
    );
  });

  it("takes any characters in a name up to 1024 UTF-8 bytes, as data", () => {
    const name = "../../etc/passwd\u0000\u001b[2J*>. \u202egpj.exe";
    expect(parse({ path: "/data/train.jsonl", name }).name).toBe(name);
    expect(parse({ path: "/x", name: "n".repeat(1024) }).name).toHaveLength(1024);
    expect(parse({ path: "/x", name: "é".repeat(512) }).name).toHaveLength(512);
  });

  it("refuses a request larger than 1 MiB before parsing it", () => {
    const big = enc({ path: "/x", name: "n".repeat(1024 * 1024) });
    expect(() => parseIngestRequest(big, 7, 1024)).toThrow(
      /ingest request is \d+ bytes, more than the 1048576 allowed/,
    );
  });

  it("keeps a reason short however long the bad value is", () => {
    const long = "r".repeat(50_000);
    const inputs = [
      { path: long },
      { path: "/x", transforms: [long] },
      { path: "/x", [long]: 1 },
      { path: "/x", chunkSize: [long] },
      { path: "/x", fileId: long },
    ];
    for (const input of inputs) {
      let reason = "";
      try {
        parse(input);
      } catch (err) {
        reason = (err as Error).message;
      }
      expect(reason).toMatch(/ingest request/);
      expect(reason.length).toBeLessThan(400);
    }
  });

  it.each([
    ["not json", /ingest request is not JSON/],
    [[1, 2], /not a JSON object/],
    [{ name: "x" }, /lacks field "path" .* or "url"/],
    [{ path: "/x", url: "s3://b/k" }, /both "path" and "url"/],
    [{ url: "ftp://host/file" }, /ftp:\/\/ is not one ferry reads/],
    [{ url: "s3://bucket-only" }, /not an object URL/],
    [{ url: 7 }, /"url" must be a string/],
    [{ uploaded: { size: 0, sha256: "a".repeat(64), chunks: [] } }, /needs the "fileId"/],
    [{ fileId: "upload-1", path: "/x", uploaded: { size: 0, sha256: "a".repeat(64), chunks: [] } }, /give one source/],
    [
      {
        fileId: "upload-1",
        uploaded: { size: 9, sha256: "a".repeat(64), chunks: [{ offset: 0, size: 5, sha256: "b".repeat(64) }] },
      },
      /add up to 5 bytes, not the file's 9/,
    ],
    [
      {
        fileId: "upload-1",
        uploaded: { size: 5, sha256: "a".repeat(64), chunks: [{ offset: 1, size: 5, sha256: "b".repeat(64) }] },
      },
      /chunk 0 must start at byte 0/,
    ],
    [{ path: "relative/file" }, /must be an absolute path/],
    [{ path: "/x", fileId: "../../etc" }, /fileId .* is not valid/],
    [{ path: "/x", chunkSize: "lots" }, /chunkSize/],
    [{ path: "/x", chunkSize: 0 }, /between 1 KiB and 1 GiB/],
    [{ path: "/x", chunkSize: 1023 }, /between 1 KiB and 1 GiB/],
    [{ path: "/x", chunkSize: 1024 ** 3 + 1 }, /between 1 KiB and 1 GiB/],
    [{ path: "/x", chunkSize: 1e300 }, /chunkSize/],
    [{ path: "/x", chunkSize: -4096 }, /chunkSize/],
    [{ path: "/x", chunkSize: "9".repeat(100_000) }, /"chunkSize" is 100000 bytes long, more than the 32 allowed/],
    [{ path: "/x", chunk_size: 4096 }, /unknown field "chunk_size": the fields are path, url/],
    [{ path: "/x", __proto__x: 1 }, /unknown field "__proto__x"/],
    [{ path: `/${"a".repeat(4096)}` }, /"path" is 4097 bytes long, more than the 4096 allowed/],
    [{ path: "/data/x\u0000.bin" }, /"path" holds a NUL character/],
    [{ url: `s3://b/${"k".repeat(4090)}` }, /"url" is 4097 bytes long/],
    [{ path: "/x", name: "n".repeat(1025) }, /"name" is 1025 bytes long, more than the 1024 allowed/],
    [{ path: "/x", name: "é".repeat(513) }, /"name" is 1026 bytes long/],
    [{ path: "/x", name: 7 }, /"name" must be a string/],
    [{ path: "/x", name: ["a"] }, /"name" must be a string/],
    [{ path: "/x", recordBoundaries: "yes" }, /"recordBoundaries" must be true or false/],
    [{ path: "/x", transforms: ["validate-jsonl", "validate-jsonl"] }, /each at most once/],
    [{ path: "/x", transforms: "validate-jsonl" }, /"transforms" must be a list/],
    [{ path: "/x", fileId: "x".repeat(100_000) }, /fileId "x{79} is not valid/],
    [
      {
        fileId: "upload-1",
        uploaded: { size: 5, sha256: "a".repeat(64), chunks: [{ offset: 0, size: 5, sha256: "b".repeat(64) }], x: 1 },
      },
      /"uploaded": unknown field "x"/,
    ],
    [
      {
        fileId: "upload-1",
        uploaded: {
          size: 5,
          sha256: "a".repeat(64),
          chunks: [{ offset: 0, size: 5, sha256: "b".repeat(64), k: "../x" }],
        },
      },
      /chunk 0 has unknown field "k"/,
    ],
    [{ path: "/x", transforms: ["gzip"] }, /"transforms" must be a list of/],
  ])("rejects %j with a message naming the problem", (input, message) => {
    expect(() => parse(input)).toThrow(PoisonMessageError);
    expect(() => parse(input)).toThrow(message);
  });
});
