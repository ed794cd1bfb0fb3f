/** Applies the declared streams, consumers and buckets idempotently: create when missing, update when changed. */
import {
  type ConsumerConfig,
  DeliverPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../shared/nats/connect.ts";
import { retry } from "../shared/retry.ts";
import {
  cloudStream,
  DEPLOYMENT_BUCKET,
  EVENTS_STREAM,
  FILES_STREAM,
  HUB_CONSUMERS,
  LEADER_BUCKET,
  LEAF_CONSUMERS,
  LEGACY_INGEST_CONSUMER,
  MANIFEST_BUCKET,
} from "../shared/stream-names.ts";
import { publishClientView } from "../shared/topology/client-view.ts";
import type { Topology } from "../shared/topology/config.ts";
import { type Deployment, hubUrls } from "../shared/topology/deployment.ts";
import { hubReplicas } from "../shared/topology/hub-config.ts";
import { adminOf } from "../shared/topology/nats-identities.ts";
import type { Role } from "../shared/topology/processes.ts";
import {
  cloudEventsStream,
  collectConsumer,
  eventsStream,
  filesStream,
  hubStageConsumer,
  leafConsumer,
  leafConsumerStream,
  orchestratorConsumer,
  workEventsStream,
} from "./definitions.ts";

/** Declares everything a cloud's leaf needs. `nc` is connected to that leaf. */
export async function applyLeafStreams(nc: NatsConnection, t: Topology, cloud: string): Promise<void> {
  const jsm = await jetstreamManager(nc, { domain: cloud });
  await ensureStream(jsm, cloudEventsStream(t, cloud));
  await ensureStream(jsm, workEventsStream(t, cloud));
  for (const stage of LEAF_CONSUMERS) {
    const stream = leafConsumerStream(cloud, stage);
    // Before place ran in each replica's cloud, its consumer sat on the cloud's own stream.
    if (stream !== cloudStream(cloud)) await jsm.consumers.delete(cloudStream(cloud), stage.stage).catch(() => false);
    await ensureConsumer(jsm, stream, leafConsumer(t, cloud, stage));
  }
}

/** Declares everything the hub needs. `nc` is connected to the hub. */
export async function applyHubStreams(nc: NatsConnection, t: Topology): Promise<void> {
  const jsm = await jetstreamManager(nc, { domain: t.hubDomain });
  await ensureStream(jsm, filesStream(t));
  await ensureStream(jsm, eventsStream(t));
  const legacy = await legacyIngestStart(jsm);
  for (const stage of HUB_CONSUMERS) {
    for (const { name } of t.clouds) {
      await ensureConsumer(jsm, FILES_STREAM, { ...hubStageConsumer(t, stage, name), ...legacy?.startAfter });
    }
  }
  for (const { name } of t.clouds) await ensureConsumer(jsm, FILES_STREAM, collectConsumer(t, name));
  if (legacy) await jsm.consumers.delete(FILES_STREAM, LEGACY_INGEST_CONSUMER);
  await ensureConsumer(jsm, EVENTS_STREAM, orchestratorConsumer(t));
  const kvm = new Kvm(jsm.jetstream());
  await kvm.create(MANIFEST_BUCKET, { history: 1, storage: StorageType.File, replicas: hubReplicas(t) });
  await kvm.create(LEADER_BUCKET, { history: 1, storage: StorageType.File, replicas: hubReplicas(t) });
  await kvm.create(DEPLOYMENT_BUCKET, { history: 1, storage: StorageType.File, replicas: hubReplicas(t) });
}

/**
 * Before requests named their cloud, one `ingest` consumer served every cloud. When it is still
 * there, the per-cloud consumers that replace it start after what it acknowledged, so an upgraded
 * deployment does not ingest its old requests again; it is deleted once they exist.
 */
async function legacyIngestStart(jsm: JetStreamManager): Promise<{ startAfter: Partial<ConsumerConfig> } | undefined> {
  const old = await jsm.consumers.info(FILES_STREAM, LEGACY_INGEST_CONSUMER).catch(() => undefined);
  if (!old) return undefined;
  return {
    startAfter: { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: old.ack_floor.stream_seq + 1 },
  };
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
  const { durable_name: _name, deliver_policy: _deliver, opt_start_seq: _start, ...mutable } = cfg;
  await jsm.consumers.update(stream, cfg.durable_name, mutable);
}

/**
 * A cluster's nodes that have just met may still see a peer as offline for a moment: placing an R3
 * stream or bucket then fails with "no suitable peers for placement". Declaring is idempotent: try again.
 */
function isPlacementRace(err: unknown): boolean {
  return err instanceof Error && /no suitable peers/i.test(err.message);
}

/** What one host declares: the hub's streams on a hub host, its cloud's on a cloud host, or everything. */
export async function applyRoleStreams(d: Deployment, role: Role | undefined): Promise<void> {
  if (role === undefined) return applyAllStreams(d);
  const url = role.role === "hub" ? hubUrls(d) : (d.leaves[role.cloud]?.url ?? "");
  const nc = await connectNats(url, `ferry-setup-${role.role === "hub" ? "hub" : role.cloud}`, adminOf(d));
  try {
    if (role.role === "hub") {
      await retry(() => applyHubStreams(nc, d.topology), { attempts: 8, retryable: isPlacementRace });
      // Clients on other machines (--hub) read the deployment from here.
      await publishClientView(jetstream(nc, { domain: d.topology.hubDomain }), d);
    } else await applyLeafStreams(nc, d.topology, role.cloud);
  } finally {
    await nc.close();
  }
}

/** Declares every cloud's stream first, then the hub's (whose EVENTS stream sources them). */
export async function applyAllStreams(d: Deployment): Promise<void> {
  const conns: NatsConnection[] = [];
  try {
    for (const [cloud, leaf] of Object.entries(d.leaves)) {
      const nc = await connectNats(leaf.url, `ferry-setup-${cloud}`, adminOf(d));
      conns.push(nc);
      await applyLeafStreams(nc, d.topology, cloud);
    }
    const hub = await connectNats(hubUrls(d), "ferry-setup-hub", adminOf(d));
    conns.push(hub);
    await applyHubStreams(hub, d.topology);
    await publishClientView(jetstream(hub, { domain: d.topology.hubDomain }), d);
  } finally {
    await Promise.all(conns.map((nc) => nc.close()));
  }
}
