import { basename } from "node:path";
import { InputError, PoisonMessageError } from "../shared/errors.ts";
import { looksLikeUrl, type ObjectUrl, parseObjectUrl } from "../shared/sources/object-url.ts";
import { resolvePolicy, resolveUnderRoots, sourcePolicy } from "../shared/sources/source-roots.ts";
import type { ClientView } from "../shared/topology/client-view.ts";
import { type CheckedIngestFile, checkIngestFile } from "./preflight.ts";

/** A command-line source, checked on its own: a readable local file, or a well-formed object URL. */
export type CheckedSource = { file: CheckedIngestFile } | { object: ObjectUrl };

/** One thing to ingest, checked, and the cloud whose ingest workers will read it. */
export interface IngestTarget {
  /** A local file, or an object URL read by the cloud's workers with its own credentials. */
  source: CheckedIngestFile | { url: string };
  cloud: string;
  /** The base name, for people. */
  name: string;
}

/** Checks what can be checked without a deployment: the file exists and is readable, or the URL is one ferry reads. */
export async function checkSource(arg: string): Promise<CheckedSource> {
  return looksLikeUrl(arg) ? { object: parseObjectUrl(arg) } : { file: await checkIngestFile(arg) };
}

/**
 * Picks a checked source's cloud. A local path goes to `cloud` (default: the topology's first
 * cloud) and must be under that cloud's source roots; an object URL goes to `cloud` when its store
 * is of the URL's kind, else to the first cloud whose store is. Throws InputError naming the fix.
 */
export async function routeSource(
  src: CheckedSource,
  d: ClientView & { dataDir?: string },
  cloud: string | undefined,
): Promise<IngestTarget> {
  const clouds = d.topology.clouds;
  if (cloud !== undefined && !clouds.some((c) => c.name === cloud))
    throw new InputError(
      `--cloud: "${cloud}" is not a cloud of this deployment (${clouds.map((c) => c.name).join(", ")})`,
    );
  if ("object" in src) {
    const url = src.object;
    const kindOf = (name: string) => d.stores[name]?.kind;
    const chosen = cloud ?? clouds.find((c) => kindOf(c.name) === url.kind)?.name;
    if (chosen === undefined)
      throw new InputError(
        `${url.url}: no cloud of this deployment keeps its data in ${url.kind}, so none can read it`,
      );
    if (kindOf(chosen) !== url.kind)
      throw new InputError(
        `${url.url}: cloud ${chosen} keeps its data in ${kindOf(chosen)}, not ${url.kind}; leave out --cloud`,
      );
    return { source: { url: url.url }, cloud: chosen, name: basename(url.key) };
  }
  const target = cloud ?? clouds[0]?.name ?? "";
  try {
    await resolveUnderRoots(src.file.path, await resolvePolicy(sourcePolicy(d, target)));
  } catch (err) {
    if (err instanceof PoisonMessageError) throw new InputError(err.message);
    throw err;
  }
  return { source: src.file, cloud: target, name: basename(src.file.path) };
}
