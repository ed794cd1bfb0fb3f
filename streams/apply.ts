/** Applies the declared streams, consumers and buckets idempotently: create when missing, update when changed. */
import {
  type ConsumerConfig,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../shared/nats/connect.ts";
import {
  cloudStream,
  DEPLOYMENT_BUCKET,
  EVENTS_STREAM,
  FILES_STREAM,
  HUB_CONSUMERS,
  LEAF_CONSUMERS,
  MANIFEST_BUCKET,
} from "../shared/stream-names.ts";
import { publishClientView } from "../shared/topology/client-view.ts";
import type { Topology } from "../shared/topology/config.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import {
  cloudEventsStream,
  eventsStream,
  filesStream,
  hubStageConsumer,
  leafConsumer,
  orchestratorConsumer,
} from "./definitions.ts";

/** Declares everything a cloud's leaf needs. `nc` is connected to that leaf. */
export async function applyLeafStreams(nc: NatsConnection, t: Topology, cloud: string): Promise<void> {
  const jsm = await jetstreamManager(nc, { domain: cloud });
  const stream = cloudStream(cloud);
  await ensureStream(jsm, cloudEventsStream(t, cloud));
  for (const stage of LEAF_CONSUMERS) await ensureConsumer(jsm, stream, leafConsumer(t, cloud, stage));
}

/** Declares everything the hub needs. `nc` is connected to the hub. */
export async function applyHubStreams(nc: NatsConnection, t: Topology): Promise<void> {
  const jsm = await jetstreamManager(nc, { domain: t.hubDomain });
  await ensureStream(jsm, filesStream(t));
  await ensureStream(jsm, eventsStream(t));
  for (const stage of HUB_CONSUMERS) await ensureConsumer(jsm, FILES_STREAM, hubStageConsumer(t, stage));
  await ensureConsumer(jsm, EVENTS_STREAM, orchestratorConsumer(t));
  await new Kvm(jsm.jetstream()).create(MANIFEST_BUCKET, { history: 1, storage: StorageType.File });
  await new Kvm(jsm.jetstream()).create(DEPLOYMENT_BUCKET, { history: 1, storage: StorageType.File });
}

async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  const existing = await jsm.streams.info(cfg.name).catch(() => undefined);
  if (!existing) {
    await jsm.streams.add(cfg);
    return;
  }
  await jsm.streams.update(cfg.name, cfg);
}

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  cfg: Partial<ConsumerConfig> & { durable_name: string },
): Promise<void> {
  const existing = await jsm.consumers.info(stream, cfg.durable_name).catch(() => undefined);
  if (!existing) {
    await jsm.consumers.add(stream, cfg);
    return;
  }
  const { durable_name: _name, deliver_policy: _deliver, ...mutable } = cfg;
  await jsm.consumers.update(stream, cfg.durable_name, mutable);
}

/** Declares every cloud's stream first, then the hub's (whose EVENTS stream sources them). */
export async function applyAllStreams(d: Deployment): Promise<void> {
  const conns: NatsConnection[] = [];
  try {
    for (const [cloud, leaf] of Object.entries(d.leaves)) {
      const nc = await connectNats(leaf.url, `ferry-setup-${cloud}`);
      conns.push(nc);
      await applyLeafStreams(nc, d.topology, cloud);
    }
    const hub = await connectNats(d.hub.url, "ferry-setup-hub");
    conns.push(hub);
    await applyHubStreams(hub, d.topology);
    await publishClientView(jetstream(hub, { domain: d.topology.hubDomain }), d);
  } finally {
    await Promise.all(conns.map((nc) => nc.close()));
  }
}
