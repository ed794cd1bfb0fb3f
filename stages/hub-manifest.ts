import { jetstream } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { WorkerContext } from "../runtime/context.ts";
import { openManifest } from "../shared/manifest.ts";

const manifests = new WeakMap<WorkerContext, Promise<KV>>();

/**
 * The hub's manifest as this worker reads it (through its leaf, in the hub's domain), opened once per
 * worker; an open that fails is forgotten, so the next call tries again.
 */
export function hubManifest(ctx: WorkerContext): Promise<KV> {
  let kv = manifests.get(ctx);
  if (!kv) {
    kv = openManifest(jetstream(ctx.nc, { domain: ctx.topology.hubDomain }));
    kv.catch(() => manifests.delete(ctx));
    manifests.set(ctx, kv);
  }
  return kv;
}
