/**
 * Every stream, consumer and KV bucket, declared as code from the topology.
 * Hub: FILES (ingest requests, completions), EVENTS (sources every cloud's stream), the manifest KV.
 * Each leaf: CLOUD_<NAME> with what its cloud publishes, WORK_<NAME> with every cloud's events that
 * a stage taking every cloud's events (place) consumes there, and one durable consumer per stage.
 * The stages and what each consumes come from shared/stages.ts.
 */
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamSource,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { STAGE_CHAIN, type Stage } from "../shared/stages.ts";
import {
  cloudStream,
  collectConsumerName,
  EVENTS_STREAM,
  FILES_STREAM,
  hubConsumerName,
  type LEAF_CONSUMERS,
  leafStageStream,
  ORCHESTRATOR_CONSUMER,
  workStream,
} from "../shared/stream-names.ts";
import {
  ALL_COLLECT,
  ALL_INGEST_REQUESTS,
  chunkSubject,
  cloudStreamSubjects,
  collectSubject,
  FILES_COMPLETED,
  INGEST_REQUESTS,
  ingestSubject,
  sourcedEventsPrefix,
  sourcedWorkPrefix,
} from "../shared/subjects.ts";
import type { Topology } from "../shared/topology/config.ts";
import { hubReplicas } from "../shared/topology/hub-config.ts";

/** `replicas`: 1 on a leaf (a single server); on the hub, `hubReplicas` (R3 on a 3-node hub). */
function limitsStream(name: string, topology: Topology, replicas = 1): Partial<StreamConfig> & { name: string } {
  return {
    name,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(topology.eventMaxAgeMs),
    duplicate_window: nanos(Math.min(topology.duplicateWindowMs, topology.eventMaxAgeMs)),
    num_replicas: replicas,
  };
}

export function filesStream(t: Topology): Partial<StreamConfig> & { name: string } {
  return {
    ...limitsStream(FILES_STREAM, t, hubReplicas(t)),
    subjects: [...ALL_INGEST_REQUESTS, FILES_COMPLETED, ALL_COLLECT],
  };
}

/** The hub's copy of every cloud's events: sourced, so a cut-off cloud's events arrive when the link returns. */
export function eventsStream(t: Topology): Partial<StreamConfig> & { name: string } {
  return {
    ...limitsStream(EVENTS_STREAM, t, hubReplicas(t)),
    sources: t.clouds.map((c) => cloudStreamSource(c.name)),
  };
}

/** `cloud`'s own stream as a source on the hub, delivered under the prefix only that cloud's leaf link may carry. */
export function cloudStreamSource(cloud: string): StreamSource {
  return { name: cloudStream(cloud), external: { api: `$JS.${cloud}.API`, deliver: sourcedEventsPrefix(cloud) } };
}

/**
 * The largest message a cloud's stream takes. An event is a few KiB (a dead letter carries at most 4 KiB
 * of what it rejects); what the stream holds also crosses the leaf link, sourced into the hub's EVENTS
 * and from there into the other clouds' WORK streams with a header more, and read by the source
 * watchdog through the link as base64 in JSON (4/3 the size). A message near NATS's max_payload (1 MiB)
 * grows past it on the way, and the receiving server closes the link for it, again at every try: one
 * oversized event cut every leaf off every 3 s (found by the event fuzz). The stream refuses such an
 * event at publish instead, with "message size exceeds maximum allowed".
 */
export const MAX_EVENT_BYTES = 256 * 1024;

export function cloudEventsStream(t: Topology, cloud: string): Partial<StreamConfig> & { name: string } {
  return {
    ...limitsStream(cloudStream(cloud), t),
    subjects: cloudStreamSubjects(cloud),
    max_msg_size: MAX_EVENT_BYTES,
  };
}

/**
 * A cloud's WORK stream: its own events of each kind a stage taking every cloud's events consumes,
 * sourced straight from its own stream (local work never waits for the hub), and the other clouds'
 * from the hub's EVENTS stream, which already holds every cloud's events. Empty of sources when no
 * stage takes every cloud's events.
 */
export function workEventsStream(t: Topology, cloud: string): Partial<StreamConfig> & { name: string } {
  const kinds = everyCloudKinds();
  const others = t.clouds.map((c) => c.name).filter((c) => c !== cloud);
  const fromHub = others.flatMap((o) => kinds.map((k) => chunkSubject(k, o)));
  return {
    ...limitsStream(workStream(cloud), t),
    sources: [
      ...kinds.map((k) => ({ name: cloudStream(cloud), filter_subject: chunkSubject(k, cloud) })),
      ...(fromHub.length > 0
        ? [
            {
              name: EVENTS_STREAM,
              external: { api: `$JS.${t.hubDomain}.API`, deliver: sourcedWorkPrefix(cloud) },
              subject_transforms: fromHub.map((s) => ({ src: s, dest: s })),
            },
          ]
        : []),
    ],
  };
}

const everyCloudKinds = () => STAGE_CHAIN.flatMap((r) => (r.from === "every" ? [r.consumes] : []));

/** A durable pull consumer; ack_wait comes from the topology, redelivery limits are enforced by the worker. */
export function durable(
  t: Topology,
  name: string,
  filter?: string,
): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(t.ackWaitMs),
    max_deliver: -1,
    max_ack_pending: 1000,
    ...(filter ? { filter_subject: filter } : {}),
  };
}

/**
 * A stage that takes ingest requests reads them on the hub, one consumer per cloud filtered on that
 * cloud's subject; the default cloud (the topology's first) also takes requests that name no cloud.
 */
export function hubStageConsumer(t: Topology, stage: Stage, cloud: string) {
  const isDefault = t.clouds[0]?.name === cloud;
  return {
    ...durable(t, hubConsumerName(stage, cloud)),
    filter_subjects: isDefault ? [INGEST_REQUESTS, ingestSubject(cloud)] : [ingestSubject(cloud)],
  };
}
/** Where a cloud's ingest workers take the staging collections meant for their store. */
export const collectConsumer = (t: Topology, cloud: string) =>
  durable(t, collectConsumerName(cloud), collectSubject(cloud));
export const orchestratorConsumer = (t: Topology) => durable(t, ORCHESTRATOR_CONSUMER);
/** A leaf stage's consumer: on its cloud's stream for its own cloud's events, or on its WORK stream for every cloud's. */
export const leafConsumer = (t: Topology, cloud: string, stage: (typeof LEAF_CONSUMERS)[number]) =>
  durable(t, stage.stage, chunkSubject(stage.takes, stage.from === "every" ? "*" : cloud));
export const leafConsumerStream = (cloud: string, stage: (typeof LEAF_CONSUMERS)[number]) =>
  leafStageStream(stage.stage, cloud);
