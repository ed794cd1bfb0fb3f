import { Readable } from "node:stream";
import { GetObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { SourceChangedError, StoreUnavailableError } from "../errors.ts";
import type { S3OpenSpec } from "../stores/s3/kind.ts";
import { failureOf, s3Client } from "../stores/s3/s3-store.ts";
import { storeError } from "../stores/store-errors.ts";
import type { ObjectReader, ObjectVersion } from "./object-source.ts";
import type { ObjectUrl } from "./object-url.ts";

/**
 * Reads `s3://bucket/key` with the cloud's own S3 client (its endpoint, region and credentials).
 * Every ranged GET carries `If-Match: <ETag>`, so an object replaced meanwhile answers 412.
 */
export function s3ObjectReader(spec: S3OpenSpec, url: ObjectUrl): ObjectReader {
  const client = s3Client(spec);
  const id = { cloud: spec.cloud, kind: "s3" as const, bucket: url.bucket };
  const fail = (op: string, err: unknown) => storeError(id, op, url.key, failureOf(err), err);
  return {
    async stat(signal): Promise<ObjectVersion> {
      try {
        const out = await client.send(new HeadObjectCommand({ Bucket: url.bucket, Key: url.key }), {
          abortSignal: signal,
        });
        return { size: out.ContentLength ?? 0, version: out.ETag ?? "" };
      } catch (err) {
        throw fail("head", err);
      }
    },
    async get(start, end, version, signal): Promise<Readable> {
      try {
        const out = await client.send(
          new GetObjectCommand({
            Bucket: url.bucket,
            Key: url.key,
            Range: `bytes=${start}-${end - 1}`,
            IfMatch: version,
          }),
          { abortSignal: signal },
        );
        if (!(out.Body instanceof Readable))
          throw new StoreUnavailableError(`get ${url.url}: the SDK returned no stream`);
        return out.Body;
      } catch (err) {
        if (failureOf(err).status === 412)
          throw new SourceChangedError(
            `source ${url.url} changed while it was being read (its ETag moved from ${version})`,
          );
        throw fail("get", err);
      }
    },
    async close() {
      client.destroy();
    },
  };
}
