import type { JetStreamClient } from "@nats-io/jetstream";
import type { DeadLetter } from "../shared/events.ts";
import { EVENTS_STREAM } from "../shared/stream-names.ts";

/** A dead letter as stored in the hub's EVENTS stream, with where it sits there. */
export interface StoredDeadLetter extends DeadLetter {
  /** Sequence in the hub's EVENTS stream. */
  seq: number;
}

/**
 * Every dead letter of every cloud, oldest first, read from the hub's copy of the cloud streams
 * with an ordered consumer (nothing is acknowledged or removed). At most `limit`, the newest.
 */
export async function listDeadLetters(hubJs: JetStreamClient, limit = 1000): Promise<StoredDeadLetter[]> {
  const consumer = await hubJs.consumers.get(EVENTS_STREAM, { filter_subjects: ["deadletter.>"] });
  const out: StoredDeadLetter[] = [];
  let pending = (await consumer.info(true)).num_pending;
  while (pending > 0) {
    const m = await consumer.next({ expires: 2000 });
    if (!m) break;
    try {
      out.push({ ...m.json<DeadLetter>(), seq: m.seq });
    } catch {
      // a foreign message on a deadletter subject: not ours to show
    }
    pending = m.info.pending;
    if (out.length > limit) out.shift();
  }
  await consumer.delete().catch(() => undefined);
  return out;
}
