import { describe, expect, it } from "vitest";
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

  it.each([
    ["not json", /ingest request is not JSON/],
    [[1, 2], /not a JSON object/],
    [{ name: "x" }, /lacks field "path" .* or "url"/],
    [{ path: "/x", url: "s3://b/k" }, /both "path" and "url"/],
    [{ url: "ftp://host/file" }, /ftp:\/\/ is not one ferry reads/],
    [{ url: "s3://bucket-only" }, /not an object URL/],
    [{ url: 7 }, /"url" must be a string/],
    [{ path: "relative/file" }, /must be an absolute path/],
    [{ path: "/x", fileId: "../../etc" }, /fileId .* is not valid/],
    [{ path: "/x", chunkSize: "lots" }, /chunkSize/],
    [{ path: "/x", chunkSize: 0 }, /between 1 B and 1 GiB/],
    [{ path: "/x", transforms: ["gzip"] }, /"transforms" must be a list of/],
  ])("rejects %j with a message naming the problem", (input, message) => {
    expect(() => parse(input)).toThrow(PoisonMessageError);
    expect(() => parse(input)).toThrow(message);
  });
});
