import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStores } from "../../shared/stores/open-store.ts";
import { localServerFor, STORE_KINDS } from "../../shared/stores/registry.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import { startLocalStores } from "../../supervisor/local-stores.ts";
import { planDeployment } from "../../supervisor/plan.ts";
import { describeStoreConformance } from "./conformance.ts";

/**
 * Every registered kind, from its example topology entry, through the same steps as `ferry up`:
 * planned, its local server started with its buckets made, and opened by openStores. A new kind in
 * shared/stores/registry.ts is in this suite without a line here.
 */
for (const kind of STORE_KINDS) {
  describeStoreConformance(`${kind.name} from ${JSON.stringify(kind.example)}`, async () => {
    const dir = await mkdtemp(join(tmpdir(), `ferry-conformance-${kind.name}-`));
    const topology = compileTopology({ clouds: [{ name: "conformance", store: kind.example }] });
    const deployment = await planDeployment(topology, dir);
    const servers = await startLocalStores(deployment, join(dir, "logs"));
    const stop = async () => {
      await Promise.all([...servers.values()].map((s) => s.stop()));
      await rm(dir, { recursive: true, force: true });
    };
    try {
      const store = openStores(deployment).get("conformance");
      expect(store?.kind).toBe(kind.name);
      if (!store) throw new Error("openStores opened no store");
      return { store, cleanup: stop };
    } catch (err) {
      await stop();
      throw err;
    }
  });
}

describe("the store kinds", () => {
  it("have distinct names, and an example that compiles (on its local server, when the kind has one)", () => {
    const names = STORE_KINDS.map((kind) => kind.name);
    expect(new Set(names).size).toBe(names.length);
    for (const kind of STORE_KINDS) {
      const [cloud] = compileTopology({ clouds: [{ name: "x", store: kind.example }] }).clouds;
      expect(cloud?.store.kind).toBe(kind.name);
      if (cloud && kind.localServer) expect(localServerFor(cloud.store)?.server).toBe(kind.localServer);
    }
  });
});
