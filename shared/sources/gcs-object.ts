import { PassThrough, type Readable } from "node:stream";
import { Storage } from "@google-cloud/storage";
import { failureOf, storageOptions } from "../stores/gcs/gcs-store.ts";
import type { GcsOpenSpec } from "../stores/gcs/kind.ts";
import { storeError } from "../stores/store-errors.ts";
import type { ObjectReader, ObjectVersion } from "./object-source.ts";
import type { ObjectUrl } from "./object-url.ts";

const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Reads `gs://bucket/object` with the cloud's own GCS client. Every ranged read names the
 * generation seen at open: once the object is replaced, that generation is gone (404), which the
 * object source reports as a change.
 */
export function gcsObjectReader(spec: GcsOpenSpec, url: ObjectUrl): ObjectReader {
  const bucket = new Storage(storageOptions(spec, REQUEST_TIMEOUT_MS)).bucket(url.bucket);
  const id = { cloud: spec.cloud, kind: "gcs" as const, bucket: url.bucket };
  const fail = (op: string, err: unknown) => storeError(id, op, url.key, failureOf(err), err);
  return {
    async stat(): Promise<ObjectVersion> {
      try {
        const [metadata] = await bucket.file(url.key).getMetadata();
        return { size: Number(metadata.size), version: String(metadata.generation) };
      } catch (err) {
        throw fail("head", err);
      }
    },
    async get(start, end, version): Promise<Readable> {
      const file = bucket.file(url.key, { generation: Number(version) });
      const source = file.createReadStream({ start, end: end - 1, validation: false });
      const out = new PassThrough();
      source.once("error", (err) => out.destroy(fail("get", err)));
      out.once("close", () => source.destroy());
      source.pipe(out);
      return out;
    },
    async close() {},
  };
}
