import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { openManifest } from "../../shared/manifest.ts";
import { connectNats } from "../../shared/nats/connect.ts";
import { openStores } from "../../shared/stores/open-store.ts";
import type { BlobStore } from "../../shared/stores/types.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import { hubUrls } from "../../shared/topology/deployment.ts";
import { adminOf } from "../../shared/topology/nats-identities.ts";
import { type Pipeline, startPipeline } from "../../supervisor/pipeline.ts";

/** A running pipeline in a temporary folder, and a client connected to its hub. */
export interface TestPipeline {
  dir: string;
  pipeline: Pipeline;
  nc: NatsConnection;
  hubJs: JetStreamClient;
  kv: KV;
  stores: Map<string, BlobStore>;
  /** A connection to a cloud's leaf, as that cloud's workers have. */
  leaf(cloud: string): Promise<NatsConnection>;
  stop(): Promise<void>;
}

/** Starts hub, three leaves and every worker with small chunks and a short ack wait. */
export async function startTestPipeline(
  options: { topology?: Record<string, unknown>; workerEnv?: NodeJS.ProcessEnv; readyTimeoutMs?: number } = {},
): Promise<TestPipeline> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-test-"));
  const topology = compileTopology({
    clouds: [{ name: "aws" }, { name: "gcp" }, { name: "azure" }],
    chunkSize: "64KiB",
    ackWait: "5s",
    maxAttempts: 3,
    ...options.topology,
  });
  const pipeline = await startPipeline({
    topology,
    dataDir: join(dir, "deploy"),
    ...(options.workerEnv ? { workerEnv: options.workerEnv } : {}),
    ...(options.readyTimeoutMs ? { readyTimeoutMs: options.readyTimeoutMs } : {}),
  });
  const conns: NatsConnection[] = [];
  try {
    const nc = await connectNats(hubUrls(pipeline.deployment), "test-client", adminOf(pipeline.deployment));
    conns.push(nc);
    const hubJs = jetstream(nc, { domain: "hub" });
    const kv = await openManifest(hubJs);
    const stores = openStores(pipeline.deployment);
    return {
      dir,
      pipeline,
      nc,
      hubJs,
      kv,
      stores,
      async leaf(cloud) {
        const c = await connectNats(
          pipeline.deployment.leaves[cloud]!.url,
          `test-${cloud}`,
          adminOf(pipeline.deployment),
        );
        conns.push(c);
        return c;
      },
      async stop() {
        await Promise.all(conns.map((c) => c.close()));
        await pipeline.stop();
        // FERRY_KEEP_TEST_DIR=1 keeps the folder (logs, stores) to look into a failure.
        if (!process.env.FERRY_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(conns.map((c) => c.close()));
    await pipeline.stop();
    throw err;
  }
}
