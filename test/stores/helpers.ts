import type { Readable } from "node:stream";
import type { BlobStore, ObjectInfo } from "../../shared/stores/types.ts";

/** A body that yields `data` in one piece. */
export async function* bytes(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data;
}

/** A body that yields `data` in uneven pieces, so stores cannot rely on aligned chunks. */
export async function* chunked(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

/** Every byte of a store's download. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.from(part as Uint8Array));
  return Buffer.concat(parts);
}

/** Every object under `prefix`, in the order the store lists them. */
export async function listAll(store: BlobStore, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of store.list(prefix)) out.push(info);
  return out;
}
