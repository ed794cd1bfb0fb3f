/**
 * A hand-written stand-in for the narrow part of a JetStream pull consumer that runtime/consume-loop.ts
 * uses: `Consumer.next()` hands out deliveries one at a time, and each `JsMsg` records what the loop
 * did with it (ack, nak with its delay, term with its reason, working). It has none of the broker's
 * semantics (no redelivery, no ack wait): a test queues each delivery itself, with its delivery count.
 */
import type { Consumer, DeliveryInfo, JsMsg, NextOptions } from "@nats-io/jetstream";

/** How the loop settled a delivery. */
export type Settlement =
  | { kind: "ack" }
  | { kind: "nak"; delayMs: number | undefined }
  | { kind: "term"; reason: string | undefined };

type UsedByLoop = Pick<JsMsg, "subject" | "data" | "headers" | "info" | "ack" | "nak" | "term" | "working">;

export class FakeMsg implements UsedByLoop {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers = undefined;
  readonly info: DeliveryInfo;
  /** Every ack, nak and term, in order: a correct loop settles a delivery exactly once. */
  readonly settlements: Settlement[] = [];
  /** Times the lease was extended. */
  workingCalls = 0;

  constructor(o: { deliveryCount?: number; seq?: number; payload?: object } = {}) {
    const seq = o.seq ?? 1;
    this.subject = "chunks.ingested.aws";
    this.data = new TextEncoder().encode(JSON.stringify(o.payload ?? { fileId: "f-1", index: seq - 1 }));
    const deliveryCount = o.deliveryCount ?? 1;
    this.info = {
      domain: "aws",
      stream: "CLOUD_AWS",
      consumer: "process",
      deliveryCount,
      streamSequence: seq,
      deliverySequence: seq,
      timestampNanos: 0,
      pending: 0,
      redelivered: deliveryCount > 1,
    };
  }

  ack(): void {
    this.settlements.push({ kind: "ack" });
  }
  nak(millis?: number): void {
    this.settlements.push({ kind: "nak", delayMs: millis });
  }
  term(reason?: string): void {
    this.settlements.push({ kind: "term", reason });
  }
  working(): void {
    this.workingCalls++;
  }

  /** The one settlement, or undefined while the delivery is still being handled. */
  get settled(): Settlement | undefined {
    return this.settlements[0];
  }

  /** As the loop's parameters type it (the loop touches only the members above). */
  asJsMsg(): JsMsg {
    return this as unknown as JsMsg;
  }
}

/** Deliveries queued by the test, handed out by `next()`; a pull with none queued waits for one, or expires. */
export class FakeConsumer implements Pick<Consumer, "next"> {
  readonly #queue: FakeMsg[] = [];
  readonly #waiting: Array<(m: FakeMsg | null) => void> = [];
  /** Pulls made, and deliveries handed out. */
  pulls = 0;
  delivered = 0;
  /** Makes the next `next()` calls throw, as a consumer behind a cut leaf link does. */
  failNextPulls = 0;

  deliver(...msgs: FakeMsg[]): void {
    for (const m of msgs) {
      const waiter = this.#waiting.shift();
      if (waiter) waiter(m);
      else this.#queue.push(m);
    }
  }

  async next(opts?: NextOptions): Promise<JsMsg | null> {
    this.pulls++;
    if (this.failNextPulls > 0) {
      this.failNextPulls--;
      throw new Error("consumer unavailable: no responders");
    }
    const queued = this.#queue.shift();
    const m =
      queued ??
      (await new Promise<FakeMsg | null>((resolve) => {
        this.#waiting.push(resolve);
        setTimeout(() => this.#expire(resolve), opts?.expires ?? 30_000).unref();
      }));
    if (m) this.delivered++;
    return m ? m.asJsMsg() : null;
  }

  /** Ends every pull that is waiting as if its `expires` had passed (instead of waiting the loop's 3 s). */
  expireWaiting(): void {
    for (const resolve of this.#waiting.splice(0)) resolve(null);
  }

  /** Pulls currently waiting for a delivery: one per idle lane. */
  get waitingPulls(): number {
    return this.#waiting.length;
  }

  asConsumer(): Consumer {
    return this as unknown as Consumer;
  }

  #expire(resolve: (m: FakeMsg | null) => void): void {
    const i = this.#waiting.indexOf(resolve);
    if (i >= 0) {
      this.#waiting.splice(i, 1);
      resolve(null);
    }
  }
}
