/**
 * The drill's own connections, apart from the workers': the hub (to submit files and read the
 * manifest, consumers and dead letters), each leaf straight (its consumers), and every store (to read
 * replicas back). What it reads through them is the evidence, never a worker's word for it.
 */
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { isFinished } from "../client/ingest.ts";
import { openManifest, readFileRecord } from "../shared/manifest.ts";
import { connectNats } from "../shared/nats/connect.ts";
import { openStores } from "../shared/stores/open-store.ts";
import type { BlobStore } from "../shared/stores/types.ts";
import { type Deployment, hubUrls } from "../shared/topology/deployment.ts";
import { adminOf } from "../shared/topology/nats-identities.ts";
import type { DrillFile, FileRecords } from "./invariants.ts";

export interface DrillClient {
  /** The connection to the hub (core requests, such as a scrub). */
  hub: NatsConnection;
  hubDomain: string;
  hubJs: JetStreamClient;
  hubJsm: JetStreamManager;
  kv: KV;
  /** A manager per cloud, connected straight to its leaf. */
  leaves: Map<string, JetStreamManager>;
  stores: Map<string, BlobStore>;
  close(): Promise<void>;
}

export async function openDrillClient(d: Deployment): Promise<DrillClient> {
  const conns: NatsConnection[] = [];
  try {
    const hub = await connectNats(hubUrls(d), "ferry-chaos", adminOf(d));
    conns.push(hub);
    const hubJs = jetstream(hub, { domain: d.topology.hubDomain });
    const leaves = new Map<string, JetStreamManager>();
    for (const [cloud, leaf] of Object.entries(d.leaves)) {
      const nc = await connectNats(leaf.url, `ferry-chaos-${cloud}`, adminOf(d));
      conns.push(nc);
      leaves.set(cloud, await jetstreamManager(nc, { domain: cloud }));
    }
    const stores = openStores(d);
    return {
      hub,
      hubDomain: d.topology.hubDomain,
      hubJs,
      hubJsm: await hubJs.jetstreamManager(),
      kv: await openManifest(hubJs),
      leaves,
      stores,
      async close() {
        await Promise.all(conns.map((nc) => nc.close()));
        await Promise.all([...stores.values()].map((s) => s.close()));
      },
    };
  } catch (err) {
    await Promise.all(conns.map((nc) => nc.close()));
    throw err;
  }
}

/** The manifest's record of each drill file (undefined for one it does not know). */
export async function readRecords(kv: KV, files: DrillFile[]): Promise<FileRecords> {
  const out: FileRecords = new Map();
  for (const f of files) out.set(f.fileId, await readFileRecord(kv, f.fileId));
  return out;
}

/** Whether every file has ended, complete or failed. */
export const allFinished = (records: FileRecords): boolean => [...records.values()].every((r) => isFinished(r));
