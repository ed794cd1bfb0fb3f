import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { DeadLetter, LetterReplayed } from "../shared/events.ts";
import { EVENTS_STREAM } from "../shared/stream-names.ts";
import { eventType, REPLAYED_TYPE } from "../shared/subjects.ts";

/** A dead letter as stored in the hub's EVENTS stream, with where it sits there. */
export interface StoredDeadLetter extends DeadLetter {
  /** Sequence in the hub's EVENTS stream. */
  seq: number;
  /** Set once the letter was replayed (`ferry dead-letters replay`): when, and as which message. */
  replayed?: LetterReplayed;
}

/** Letters read at most, newest kept: the stream's retention bounds them long before this. */
const MAX_READ = 100_000;

/**
 * The dead letters of every cloud, oldest first, read from the hub's copy of the cloud streams
 * with an ordered consumer (nothing is acknowledged or removed), with their replays. Only those not
 * replayed yet, unless `history`: then every one, a replayed one with `replayed` set. At most
 * `limit`, the newest.
 */
export async function listDeadLetters(
  hubJs: JetStreamClient,
  limit = 1000,
  options: { history?: boolean } = {},
): Promise<StoredDeadLetter[]> {
  const consumer = await hubJs.consumers.get(EVENTS_STREAM, {
    filter_subjects: ["deadletter.>", `${REPLAYED_TYPE}.>`],
  });
  const letters: StoredDeadLetter[] = [];
  const replays = new Map<number, LetterReplayed>();
  let pending = (await consumer.info(true)).num_pending;
  while (pending > 0) {
    const m = await consumer.next({ expires: 2000 });
    if (!m) break;
    take(m, letters, replays);
    pending = m.info.pending;
    if (letters.length > MAX_READ) letters.shift();
  }
  await consumer.delete().catch(() => undefined);
  const all = letters.map((l) => {
    const replayed = replays.get(l.seq);
    return replayed ? { ...l, replayed } : l;
  });
  const shown = options.history ? all : all.filter((l) => !l.replayed);
  return limit === Infinity ? shown : shown.slice(-limit);
}

function take(m: JsMsg, letters: StoredDeadLetter[], replays: Map<number, LetterReplayed>): void {
  try {
    if (eventType(m.subject) === REPLAYED_TYPE) {
      const r = m.json<LetterReplayed>();
      // The first replay of a letter counts; the CLI never publishes a second.
      if (Number.isSafeInteger(r.letterSeq) && !replays.has(r.letterSeq)) replays.set(r.letterSeq, r);
    } else {
      letters.push({ ...m.json<DeadLetter>(), seq: m.seq });
    }
  } catch {
    // a foreign message on a deadletter subject: not ours to show
  }
}
