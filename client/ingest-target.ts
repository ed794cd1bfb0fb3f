import { basename } from "node:path";
import { InputError, PoisonMessageError } from "../shared/errors.ts";
import { looksLikeUrl, parseObjectUrl } from "../shared/sources/object-url.ts";
import { resolvePolicy, resolveUnderRoots, sourcePolicy } from "../shared/sources/source-roots.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { type CheckedIngestFile, checkIngestFile } from "./preflight.ts";

/** One thing to ingest, checked, and the cloud whose ingest workers will read it. */
export interface IngestTarget {
  /** A local file (checked here), or an object URL read by the cloud's workers with its own credentials. */
  source: CheckedIngestFile | { url: string };
  cloud: string;
  /** The base name, for people. */
  name: string;
}

/**
 * Checks a command-line source and picks its cloud. A local path goes to `cloud` (default: the
 * topology's first cloud) and must be under that cloud's source roots; an object URL goes to
 * `cloud` when its store is of the URL's kind, else to the first cloud whose store is.
 * Throws InputError naming the problem and the fix.
 */
export async function checkIngestTarget(arg: string, d: Deployment, cloud: string | undefined): Promise<IngestTarget> {
  const clouds = d.topology.clouds;
  if (cloud !== undefined && !clouds.some((c) => c.name === cloud))
    throw new InputError(
      `--cloud: "${cloud}" is not a cloud of this deployment (${clouds.map((c) => c.name).join(", ")})`,
    );
  if (looksLikeUrl(arg)) {
    const url = parseObjectUrl(arg);
    const kindOf = (name: string) => d.stores[name]?.kind;
    const chosen = cloud ?? clouds.find((c) => kindOf(c.name) === url.kind)?.name;
    if (chosen === undefined)
      throw new InputError(`${arg}: no cloud of this deployment keeps its data in ${url.kind}, so none can read it`);
    if (kindOf(chosen) !== url.kind)
      throw new InputError(
        `${arg}: cloud ${chosen} keeps its data in ${kindOf(chosen)}, not ${url.kind}; leave out --cloud`,
      );
    return { source: { url: url.url }, cloud: chosen, name: basename(url.key) };
  }
  const target = cloud ?? clouds[0]?.name ?? "";
  const file = await checkIngestFile(arg);
  try {
    await resolveUnderRoots(file.path, await resolvePolicy(sourcePolicy(d, target)));
  } catch (err) {
    if (err instanceof PoisonMessageError) throw new InputError(err.message);
    throw err;
  }
  return { source: file, cloud: target, name: basename(file.path) };
}
