import { PoisonMessageError } from "../errors.ts";
import { type StoreOpenSpec, storeKindOf } from "../stores/registry.ts";
import { openLocalSource } from "./local-file.ts";
import { type ObjectReader, openObjectSource } from "./object-source.ts";
import { looksLikeUrl, type ObjectUrl, parseObjectUrl } from "./object-url.ts";
import type { IngestSource } from "./source.ts";
import type { SourceRoots } from "./source-roots.ts";

/** What one cloud's ingest worker may read: local files under its roots, objects of its own store's kind. */
export interface SourceAccess {
  cloud: string;
  /** This cloud's store: an object URL is read only when its scheme matches the store's kind, with its credentials. */
  store: StoreOpenSpec;
  roots: SourceRoots;
}

/** Opens a local path or an object URL for this cloud's ingest worker; anything it may not read is refused. */
export async function openIngestSource(source: string, access: SourceAccess): Promise<IngestSource> {
  if (!looksLikeUrl(source)) return openLocalSource(source, access.roots);
  let url: ObjectUrl;
  try {
    url = parseObjectUrl(source);
  } catch (err) {
    throw new PoisonMessageError((err as Error).message, { cause: err });
  }
  return openObjectSource(url, objectReader(url, access), access.cloud);
}

/** The reader of the cloud's own store kind; a URL of another kind is refused, naming the kind it needs. */
function objectReader(url: ObjectUrl, { cloud, store }: SourceAccess): ObjectReader {
  const kind = storeKindOf(store);
  if (kind.name !== url.kind || !kind.objectUrls) {
    throw new PoisonMessageError(
      `source ${url.url}: cloud ${cloud} keeps its data in ${store.kind} and reads only its own kind's URLs; send the request to a cloud whose store is ${url.kind}`,
    );
  }
  return kind.objectUrls.reader(store, url);
}
