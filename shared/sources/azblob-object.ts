import type { Readable } from "node:stream";
import { SourceChangedError, StoreUnavailableError } from "../errors.ts";
import { failureOf, serviceClient } from "../stores/azblob/client.ts";
import type { AzblobOpenSpec } from "../stores/azblob/kind.ts";
import { storeError } from "../stores/store-errors.ts";
import type { ObjectReader, ObjectVersion } from "./object-source.ts";
import type { ObjectUrl } from "./object-url.ts";

/**
 * Reads `az://container/blob` in the cloud's own storage account, with its credentials. Every
 * ranged download carries `If-Match: <ETag>`, so a blob replaced meanwhile answers 412.
 */
export function azblobObjectReader(spec: AzblobOpenSpec, url: ObjectUrl): ObjectReader {
  const blob = serviceClient(spec).getContainerClient(url.bucket).getBlobClient(url.key);
  const id = { cloud: spec.cloud, kind: "azblob" as const, bucket: url.bucket };
  const fail = (op: string, err: unknown) => storeError(id, op, url.key, failureOf(err), err);
  return {
    async stat(signal): Promise<ObjectVersion> {
      try {
        const props = await blob.getProperties({ abortSignal: signal });
        return { size: props.contentLength ?? 0, version: props.etag ?? "" };
      } catch (err) {
        throw fail("head", err);
      }
    },
    async get(start, end, version, signal): Promise<Readable> {
      try {
        const res = await blob.download(start, end - start, {
          conditions: { ifMatch: version },
          ...(signal ? { abortSignal: signal } : {}),
        });
        const body = res.readableStreamBody as Readable | undefined;
        if (!body) throw new StoreUnavailableError(`get ${url.url}: the service sent no body`);
        return body;
      } catch (err) {
        if (failureOf(err).status === 412)
          throw new SourceChangedError(
            `source ${url.url} changed while it was being read (its ETag moved from ${version})`,
          );
        throw fail("get", err);
      }
    },
    async close() {},
  };
}
