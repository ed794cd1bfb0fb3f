/**
 * Follows the hub's EVENTS stream for the dashboard, from its first retained event, with an ordered
 * consumer (nothing is acknowledged or removed). It keeps the recent stage events (for rates and the
 * bottleneck), the verified replicas per cloud, and the latest dead letters not replayed.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type ConsumerMessages, DeliverPolicy, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { HISTORY_SUBJECTS, type HistoryEvent } from "../observability/monitor.ts";
import type { LetterReplayed } from "../shared/events.ts";
import { EVENTS_STREAM } from "../shared/stream-names.ts";
import { REPLAYED_TYPE } from "../shared/subjects.ts";

/** A dead letter as the dashboard shows it. */
export interface DeadLetterRow {
  at: string;
  stage: string;
  cloud: string;
  reason: string;
  fileId?: string;
  index?: number;
}

type EventBody = HistoryEvent["body"] & {
  replica?: { cloud?: string };
  stage?: string;
  cloud?: string;
  reason?: string;
};

/** How many dead letters the dashboard shows, and keeps (so that replayed ones can leave the shown ones). */
const LATEST_DEAD_LETTERS = 5;
const KEPT_DEAD_LETTERS = 100;

export class EventTail {
  readonly #js: JetStreamClient;
  readonly #keepMs: number;
  #recent: HistoryEvent[] = [];
  /** Per cloud, the replicas verified there (`fileId:index`, so a redelivered event counts once) and their bytes. */
  readonly #replicas = new Map<string, { chunks: Set<string>; bytes: number }>();
  /** The newest dead letters not replayed (`ferry dead-letters replay`), by EVENTS sequence. */
  #deadLetters: Array<{ seq: number; row: DeadLetterRow }> = [];
  #lastSeq = 0;
  #caughtUp = false;
  #messages: ConsumerMessages | undefined;
  readonly #stop = new AbortController();
  readonly #done: Promise<void>;

  /** Starts following at once; `keepMs` is how long stage events stay in `recent()`. */
  constructor(js: JetStreamClient, keepMs: number) {
    this.#js = js;
    this.#keepMs = keepMs;
    this.#done = this.#run();
  }

  /** Whether the history retained when the tail started has been read (until then counts are partial). */
  get caughtUp(): boolean {
    return this.#caughtUp;
  }

  /** Stage events that ended in the last `keepMs` (by the event's own time). */
  recent(nowMs = Date.now()): HistoryEvent[] {
    this.#recent = this.#recent.filter((e) => Date.parse(e.body.at ?? "") > nowMs - this.#keepMs);
    return this.#recent;
  }

  /** Verified replicas and their bytes, per cloud that holds any. */
  replicas(): Map<string, { replicas: number; bytes: number }> {
    return new Map([...this.#replicas].map(([cloud, r]) => [cloud, { replicas: r.chunks.size, bytes: r.bytes }]));
  }

  /** The newest dead letters, newest first. */
  latestDeadLetters(): DeadLetterRow[] {
    return this.#deadLetters
      .slice(-LATEST_DEAD_LETTERS)
      .map((l) => l.row)
      .reverse();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    this.#messages?.stop();
    await this.#done;
  }

  async #run(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      try {
        const consumer = await this.#js.consumers.get(EVENTS_STREAM, {
          filter_subjects: [...HISTORY_SUBJECTS, `${REPLAYED_TYPE}.>`],
          ...(this.#lastSeq > 0
            ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.#lastSeq + 1 }
            : {}),
        });
        if ((await consumer.info(true)).num_pending === 0) this.#caughtUp = true;
        this.#messages = await consumer.consume({ max_messages: 512 });
        if (this.#stop.signal.aborted) this.#messages.stop();
        for await (const m of this.#messages) {
          this.#take(m);
          if (m.info.pending === 0) this.#caughtUp = true;
        }
      } catch {
        // the hub is restarting or unreachable: start again after the last event taken
      }
      await sleep(1000, undefined, { signal: this.#stop.signal }).catch(() => undefined);
    }
  }

  #take(m: JsMsg): void {
    this.#lastSeq = m.seq;
    let body: EventBody;
    try {
      body = m.json<EventBody>();
    } catch {
      return; // not JSON: not one of our events
    }
    if (m.subject.startsWith(`${REPLAYED_TYPE}.`)) {
      const { letterSeq } = body as Partial<LetterReplayed>;
      this.#deadLetters = this.#deadLetters.filter((l) => l.seq !== letterSeq);
      return;
    }
    if (m.subject.startsWith("deadletter.")) {
      const row: DeadLetterRow = {
        at: String(body.at ?? ""),
        stage: String(body.stage ?? ""),
        cloud: String(body.cloud ?? ""),
        reason: String(body.reason ?? ""),
        ...(typeof body.fileId === "string" ? { fileId: body.fileId } : {}),
        ...(typeof body.index === "number" ? { index: body.index } : {}),
      };
      this.#deadLetters.push({ seq: m.seq, row });
      if (this.#deadLetters.length > KEPT_DEAD_LETTERS) this.#deadLetters.shift();
    }
    if (m.subject.startsWith("chunks.verified.") && body.replica?.cloud) {
      const r = this.#replicas.get(body.replica.cloud) ?? { chunks: new Set<string>(), bytes: 0 };
      this.#replicas.set(body.replica.cloud, r);
      const key = `${body.fileId}:${body.index}`;
      if (!r.chunks.has(key)) {
        r.chunks.add(key);
        r.bytes += body.size ?? 0;
      }
    }
    if (Date.parse(body.at ?? "") > Date.now() - this.#keepMs) this.#recent.push({ subject: m.subject, body });
  }
}
