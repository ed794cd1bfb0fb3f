import type { WorkerContext } from "../../runtime/context.ts";
import type { SourceAccess } from "../../shared/sources/open-source.ts";
import { sourcePolicy } from "../../shared/sources/source-roots.ts";

/** What this cloud's ingest worker may read: local files under its cloud's source roots, objects of its own store's kind. */
export function sourceAccess(ctx: WorkerContext): SourceAccess {
  const { deployment, cloud } = ctx;
  const store = deployment.stores[cloud];
  if (!store) throw new Error(`no store configured for cloud "${cloud}"`);
  return { cloud, store, roots: sourcePolicy(deployment, cloud) };
}
