import type { Deployment } from "../topology/deployment.ts";
import { isFsOpenSpec } from "./fs/kind.ts";
import { type StoreOpenSpec, storeKindOf } from "./registry.ts";
import type { BlobStore } from "./types.ts";

export type { StoreOpenSpec };

/** The one way the rest of the project gets a BlobStore: the spec's kind opens it. */
export function openStore(spec: StoreOpenSpec): BlobStore {
  return storeKindOf(spec).open(spec);
}

/**
 * Opens the store of every cloud in the deployment, or only cloud `only`'s. `FERRY_FS_THROTTLE_BPS`
 * slows fs writes for chaos drills.
 */
export function openStores(d: Pick<Deployment, "topology" | "stores">, only?: string): Map<string, BlobStore> {
  const throttle = Number(process.env.FERRY_FS_THROTTLE_BPS ?? 0);
  const stores = new Map<string, BlobStore>();
  for (const c of d.topology.clouds) {
    if (only !== undefined && c.name !== only) continue;
    const spec = d.stores[c.name];
    if (!spec) throw new Error(`deployment has no store for cloud "${c.name}"`);
    stores.set(
      c.name,
      openStore(isFsOpenSpec(spec) && throttle > 0 ? { ...spec, throttleBytesPerSec: throttle } : spec),
    );
  }
  return stores;
}
