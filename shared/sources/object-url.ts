import { InputError } from "../errors.ts";
import { kindOfUrlScheme, type StoreKind, urlSchemeList } from "../stores/registry.ts";

/**
 * An object named by URL in an ingest request: `s3://bucket/key`, `gs://bucket/object`,
 * `az://container/blob`. Each store kind declares its scheme (StoreKindDescriptor.objectUrls).
 */
export interface ObjectUrl {
  url: string;
  scheme: string;
  /** The store kind whose clouds read it, with their own credentials. */
  kind: StoreKind;
  /** Bucket, or the Azure container. */
  bucket: string;
  /** The object's name, exactly as written after the bucket (not decoded). */
  key: string;
}

const URL_SHAPE = /^([a-z0-9]+):\/\/([^/]+)\/(.+)$/;

/** Whether `source` names an object by URL (a scheme and `://`) rather than a local path. */
export const looksLikeUrl = (source: string): boolean => /^[a-z0-9]+:\/\//i.test(source);

/** Parses an object URL; a scheme ferry cannot read or a URL without bucket or key is an InputError naming the fix. */
export function parseObjectUrl(url: string): ObjectUrl {
  const m = URL_SHAPE.exec(url);
  if (!m)
    throw new InputError(
      `source ${JSON.stringify(url)} is not an object URL such as s3://bucket/key (${urlSchemeList()})`,
    );
  const [, scheme = "", bucket = "", key = ""] = m;
  const kind = kindOfUrlScheme(scheme);
  if (!kind)
    throw new InputError(
      `source ${JSON.stringify(url)}: scheme ${scheme}:// is not one ferry reads (${urlSchemeList()})`,
    );
  return { url, scheme, kind: kind.name, bucket, key };
}
