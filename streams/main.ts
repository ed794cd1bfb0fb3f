/**
 * Entry of the one-shot stream setup: `node streams/main.ts <dataDir>`. Declares every stream, consumer
 * and bucket of the deployment in `<dataDir>/deployment.json`, then exits 0. docker-compose.yml runs it
 * as the `setup` service and starts the workers once it has succeeded; `ferry up` does the same in-process.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats } from "../shared/nats/connect.ts";
import { pollUntil } from "../shared/retry.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { hubUrls, readDeployment } from "../shared/topology/deployment.ts";
import { adminOf } from "../shared/topology/nats-identities.ts";
import { applyAllStreams } from "./apply.ts";

/** Containers start in any order: how long to wait for every leaf to link to the hub. */
const LINK_TIMEOUT_MS = 120_000;

/**
 * Waits until every leaf's JetStream domain answers through the hub, i.e. every leaf link is up.
 * The hub stream sources the leaf streams; created before the links exist, its sourcing only starts
 * ~40 s later (nats-server 2.14 backs off), so this mirrors `ferry up`, which waits for the links first.
 */
async function waitForLeafDomains(d: Deployment): Promise<void> {
  const nc = await connectNats(hubUrls(d), "ferry-setup-links", adminOf(d));
  const linked = new Set<string>();
  try {
    await pollUntil(
      "every leaf linked to the hub",
      async () => {
        for (const cloud of Object.keys(d.leaves)) {
          if (linked.has(cloud)) continue;
          try {
            // Creating a manager asks the domain's JetStream API for account info: it fails until the link is up.
            await jetstreamManager(nc, { domain: cloud, timeout: 2000 });
            linked.add(cloud);
          } catch (err) {
            return `leaf "${cloud}" not linked: ${(err as Error).message}`;
          }
        }
        return true;
      },
      { timeoutMs: LINK_TIMEOUT_MS, intervalMs: 500 },
    );
  } finally {
    await nc.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const [dataDir] = argv;
  if (!dataDir) throw new Error("usage: streams/main.ts <dataDir>");
  const d = readDeployment(dataDir);
  await waitForLeafDomains(d);
  await applyAllStreams(d);
  process.stdout.write(`ferry setup: streams applied on the hub and ${Object.keys(d.leaves).length} leaves\n`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`ferry setup: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
