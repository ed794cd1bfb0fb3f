/**
 * The consumer audit, run by the active orchestrator: heals a FILES consumer on the hub that holds
 * requests it will never hand out again. After a hub node was SIGKILLed (the JetStream meta leader:
 * `./ferry chaos hub-node`, seed 2) a consumer was seen reporting ingest requests as delivered yet
 * neither acknowledged nor waiting for an ack (`delivered` 4, `ack_floor` 1, `num_ack_pending` 0):
 * nats-server never redelivers those, and their files never start (the class of nats-server #6469).
 * A healthy consumer with nothing waiting for an ack has its ack floor at what it delivered (the
 * server moves both under one lock), so a gap that shows the same at two looks in a row is that
 * state: the audit resets the consumer to its ack floor (`$JS.API.CONSUMER.RESET`, nats-server
 * 2.14), and the requests after the floor are delivered again. Ingest is idempotent for them
 * (stages/ingest/resume.ts), and so is the deletion of staging, so a reset for nothing costs only
 * the lookups.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../observability/log.ts";
import { collectConsumerName, FILES_STREAM, HUB_CONSUMERS, hubConsumerName } from "../shared/stream-names.ts";
import type { Topology } from "../shared/topology/config.ts";

export interface ConsumerAuditOptions {
  nc: NatsConnection;
  topology: Topology;
  log: Logger;
  signal: AbortSignal;
  /** Throws unless this orchestrator still holds the lease; called before every reset. */
  assertActive: (what: string) => void;
  /** Time between looks; a gap must show at two looks in a row to count. @default 2 s */
  intervalMs?: number;
}

/** The part of a consumer's info the audit reads. */
interface ConsumerProgress {
  delivered: { consumer_seq: number; stream_seq: number };
  ack_floor: { consumer_seq: number; stream_seq: number };
  num_ack_pending: number;
}

/**
 * The stream sequences a consumer delivered beyond its ack floor with nothing waiting for an ack, or
 * undefined. Judged by consumer sequences, which only deliveries advance: a filtered consumer's
 * stream sequence also moves past messages it does not take.
 */
export function strandedGap(c: ConsumerProgress): string | undefined {
  if (c.num_ack_pending > 0 || c.delivered.consumer_seq <= c.ack_floor.consumer_seq) return undefined;
  return `${c.ack_floor.stream_seq + 1}-${c.delivered.stream_seq}`;
}

/** The FILES consumers: each cloud's ingest-request consumers and its staging collections. */
export function filesConsumers(t: Topology): string[] {
  return t.clouds.flatMap((c) => [
    ...HUB_CONSUMERS.map((stage) => hubConsumerName(stage, c.name)),
    collectConsumerName(c.name),
  ]);
}

/** Runs until the signal aborts; never rejects. */
export async function runConsumerAudit(o: ConsumerAuditOptions): Promise<void> {
  const intervalMs = o.intervalMs ?? 2000;
  const seen = new Map<string, string>(); // consumer -> the gap it showed at the last look
  const prefix = `$JS.${o.topology.hubDomain}.API`;
  while (!o.signal.aborted) {
    await sleep(intervalMs, undefined, { signal: o.signal }).catch(() => undefined);
    if (o.signal.aborted) return;
    try {
      const jsm = await jetstreamManager(o.nc, { domain: o.topology.hubDomain, checkAPI: false });
      for (const name of filesConsumers(o.topology)) {
        const info = await jsm.consumers.info(FILES_STREAM, name).catch(() => undefined);
        const gap = info && strandedGap(info);
        const before = seen.get(name);
        if (gap === undefined) seen.delete(name);
        else if (gap !== before) seen.set(name, gap);
        else {
          seen.delete(name);
          await resetToAckFloor(o, prefix, name, gap);
        }
      }
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, "consumer audit failed; retrying");
    }
  }
}

async function resetToAckFloor(o: ConsumerAuditOptions, prefix: string, name: string, gap: string): Promise<void> {
  o.assertActive(`resetting consumer ${name}`);
  const reply = await o.nc.request(`${prefix}.CONSUMER.RESET.${FILES_STREAM}.${name}`, "{}", { timeout: 5000 });
  const answer = reply.json<{ error?: { description?: string }; reset_seq?: number }>();
  if (answer.error) throw new Error(`resetting consumer ${name}: ${answer.error.description ?? "refused"}`);
  o.log.warn(
    { consumer: name, stranded: gap, resetTo: answer.reset_seq },
    "FILES consumer held requests delivered but neither acked nor pending (nats-server #6469): reset to its ack floor, they are delivered again",
  );
}
