import { type JetStreamManager, jetstream } from "@nats-io/jetstream";
import { pollUntil } from "../../shared/retry.ts";
import {
  cloudStream,
  collectConsumerName,
  EVENTS_STREAM,
  FILES_STREAM,
  LEAF_CONSUMERS,
  leafStageStream,
  ORCHESTRATOR_CONSUMER,
  workStream,
} from "../../shared/stream-names.ts";
import { chunkSubject } from "../../shared/subjects.ts";
import type { TestPipeline } from "./pipeline.ts";

/** What the pipeline still has to do, one line per busy place; empty when it has done everything. */
async function backlog(hub: JetStreamManager, leaves: Map<string, JetStreamManager>): Promise<string[]> {
  const busy: string[] = [];
  const note = (where: string, c: { num_pending: number; num_ack_pending: number }) => {
    if (c.num_pending > 0 || c.num_ack_pending > 0)
      busy.push(`${where}: ${c.num_pending} pending, ${c.num_ack_pending} unacknowledged`);
  };
  // Read in the order work flows: a stage publishes before it acknowledges, so once every stage is idle
  // no new event appears; then the hub must hold all of them; then the orchestrator must have projected them.
  for (const [cloud, jsm] of leaves)
    for (const { stage } of LEAF_CONSUMERS)
      note(`${cloud}/${stage}`, await jsm.consumers.info(leafStageStream(stage, cloud), stage));
  busy.push(...(await unsourcedWork(leaves)));
  let inClouds = 0;
  for (const [cloud, jsm] of leaves) inClouds += (await jsm.streams.info(cloudStream(cloud))).state.messages;
  const atHub = (await hub.streams.info(EVENTS_STREAM)).state.messages;
  if (atHub !== inClouds) busy.push(`hub ${EVENTS_STREAM} holds ${atHub} of the clouds' ${inClouds} events`);
  note("hub/orchestrator", await hub.consumers.info(EVENTS_STREAM, ORCHESTRATOR_CONSUMER));
  for (const cloud of leaves.keys())
    note(`hub/${collectConsumerName(cloud)}`, await hub.consumers.info(FILES_STREAM, collectConsumerName(cloud)));
  return busy;
}

/** A WORK stream that does not yet hold every cloud's processed chunks (sourcing still under way). */
async function unsourcedWork(leaves: Map<string, JetStreamManager>): Promise<string[]> {
  let processed = 0;
  for (const [cloud, jsm] of leaves) {
    const info = await jsm.streams.info(cloudStream(cloud), { subjects_filter: chunkSubject("processed", cloud) });
    processed += Object.values(info.state.subjects ?? {}).reduce((n, c) => n + c, 0);
  }
  const lagging: string[] = [];
  for (const [cloud, jsm] of leaves) {
    const held = (await jsm.streams.info(workStream(cloud))).state.messages;
    if (held !== processed)
      lagging.push(`${workStream(cloud)} holds ${held} of the clouds' ${processed} processed chunks`);
  }
  return lagging;
}

/**
 * Waits (polling, up to `timeoutMs`) until every stage consumer of every cloud has delivered and
 * acknowledged all its messages, the hub's EVENTS stream holds every cloud's events, and the
 * orchestrator's consumer has nothing pending or unacknowledged: everything published so far has
 * been handled and projected into the manifest.
 */
export async function waitForDrain(t: TestPipeline, timeoutMs = 30_000): Promise<void> {
  const hub = await t.hubJs.jetstreamManager();
  const leaves = new Map<string, JetStreamManager>();
  for (const { name } of t.pipeline.deployment.topology.clouds)
    leaves.set(name, await jetstream(await t.leaf(name)).jetstreamManager());
  await pollUntil(
    "every consumer to drain",
    async () => {
      const busy = await backlog(hub, leaves);
      return busy.length === 0 ? true : busy.join("; ");
    },
    { timeoutMs, intervalMs: 200 },
  );
}
