import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type JetStreamClient, jetstream, StorageType } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../../shared/nats/connect.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import { writeServerConfigs } from "../../shared/topology/nats-config.ts";
import { adminOf } from "../../shared/topology/nats-identities.ts";
import { NatsServer } from "../../supervisor/nats-server.ts";
import { planDeployment } from "../../supervisor/plan.ts";

/** One real nats-server with JetStream (a deployment's hub, started alone), and a client connected to it. */
export interface JetStreamServer {
  nc: NatsConnection;
  js: JetStreamClient;
  /** A new, empty KV bucket in memory: one per test keeps tests apart without restarting the server. */
  newKv(): Promise<KV>;
  stop(): Promise<void>;
}

/** Starts the hub server of a one-cloud deployment in a temporary folder; `stop` removes the folder. */
export async function startJetStreamServer(): Promise<JetStreamServer> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-js-"));
  const d = await planDeployment(compileTopology({ clouds: [{ name: "aws" }] }), dir);
  writeServerConfigs(d);
  const server = await NatsServer.start(d.hub, { logFile: join(dir, "hub.log") });
  let nc: NatsConnection | undefined;
  const stop = async () => {
    await nc?.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    nc = await connectNats(d.hub.url, "test-jetstream", adminOf(d));
    const js = jetstream(nc, { domain: d.hub.domain });
    const kvm = new Kvm(js);
    let buckets = 0;
    return {
      nc,
      js,
      newKv: () => kvm.create(`test_${++buckets}`, { history: 1, storage: StorageType.Memory }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
