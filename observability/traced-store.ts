/**
 * A BlobStore whose reads and writes are CLIENT spans under the active span, each naming the cloud
 * it reaches (`cloud.provider` on the span: a place worker in one cloud writes to all of them).
 */

import { finished, type Readable } from "node:stream";
import { type Attributes, context, SpanKind, trace } from "@opentelemetry/api";
import type { BlobStore } from "../shared/stores/types.ts";
import {
  ATTR_CLOUD_PROVIDER,
  ATTR_STORE_BUCKET,
  ATTR_STORE_BYTES,
  ATTR_STORE_KEY,
  ATTR_STORE_KIND,
  storeSpanName,
} from "./semconv.ts";
import { recordFailure, tracer, withSpan } from "./spans.ts";

/** The attributes of a span about one object of `store`. */
export function objectAttributes(store: BlobStore, key: string): Attributes {
  return {
    [ATTR_CLOUD_PROVIDER]: store.cloud,
    [ATTR_STORE_KIND]: store.kind,
    [ATTR_STORE_BUCKET]: store.bucket,
    [ATTR_STORE_KEY]: key,
  };
}

/** Wraps `store` so put, get, head and delete are traced; list, sweeps and close pass through. */
export function traceStore(store: BlobStore): BlobStore {
  const span = <T>(op: "put" | "head" | "delete", key: string, fn: () => Promise<T>) =>
    withSpan(storeSpanName(op), objectAttributes(store, key), fn, { kind: SpanKind.CLIENT });
  return {
    cloud: store.cloud,
    kind: store.kind,
    bucket: store.bucket,
    put: (key, body, o) =>
      withSpan(
        storeSpanName("put"),
        objectAttributes(store, key),
        async (s) => {
          const r = await store.put(key, body, o);
          s.setAttribute(ATTR_STORE_BYTES, r.size);
          return r;
        },
        { kind: SpanKind.CLIENT },
      ),
    get: (key, o) => tracedGet(store, key, o),
    head: (key, o) => span("head", key, () => store.head(key, o)),
    delete: (key, o) => span("delete", key, () => store.delete(key, o)),
    list: (prefix, o) => store.list(prefix, o),
    ...(store.sweepTemp ? { sweepTemp: store.sweepTemp.bind(store) } : {}),
    close: () => store.close(),
  };
}

/** Every store of a worker, traced. */
export function traceStores(stores: Map<string, BlobStore>): Map<string, BlobStore> {
  return new Map([...stores].map(([cloud, s]) => [cloud, traceStore(s)]));
}

/** A get's span lasts until its stream is read to the end (or fails), not just until it opens. */
async function tracedGet(store: BlobStore, key: string, o?: { signal?: AbortSignal }): Promise<Readable> {
  const span = tracer().startSpan(storeSpanName("get"), {
    kind: SpanKind.CLIENT,
    attributes: objectAttributes(store, key),
  });
  let stream: Readable;
  try {
    stream = await context.with(trace.setSpan(context.active(), span), () => store.get(key, o));
  } catch (err) {
    recordFailure(span, err);
    span.end();
    throw err;
  }
  finished(stream, (err) => {
    if (err) recordFailure(span, err);
    span.end();
  });
  return stream;
}
