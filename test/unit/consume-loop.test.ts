/**
 * runtime/consume-loop.ts: what the loop does with each delivery (ack, nak with a growing delay, dead
 * letter then term), the lease it keeps on slow work, its lanes, and how it stops. The consumer and
 * its messages are a narrow hand-written fake (test/helpers/fake-consumer.ts); the broker's own
 * behaviour is tested end to end (test/e2e/lease.test.ts, retry-exhaustion.test.ts).
 */
import type { JsMsg } from "@nats-io/jetstream";
import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { HandlingOutcome } from "../../observability/metrics.ts";
import { type LoopStats, runConsumeLoop, SKIPPED } from "../../runtime/consume-loop.ts";
import { PoisonMessageError, StoreAccessError, StoreUnavailableError } from "../../shared/errors.ts";
import { pollUntil } from "../../shared/retry.ts";
import { FakeConsumer, FakeMsg } from "../helpers/fake-consumer.ts";

type Handle = (msg: JsMsg, signal: AbortSignal) => Promise<unknown>;

interface Loop {
  consumer: FakeConsumer;
  deadLetters: Array<{ msg: JsMsg; err: unknown; settledBefore: boolean }>;
  outcomes: HandlingOutcome[];
  stats: LoopStats;
  lookups: number;
  controller: AbortController;
  done: Promise<void>;
  stop(): Promise<void>;
}

const running: Loop[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((l) => l.stop()));
  vi.useRealTimers();
});

function startLoop(o: {
  handle: Handle;
  concurrency?: number;
  maxAttempts?: number;
  ackWaitMs?: number;
  deadLetter?: (msg: JsMsg, err: unknown) => Promise<void>;
  lookupFailures?: number;
}): Loop {
  const consumer = new FakeConsumer();
  const controller = new AbortController();
  let lookupFailures = o.lookupFailures ?? 0;
  const loop: Loop = {
    consumer,
    deadLetters: [],
    outcomes: [],
    stats: { handled: 0, retried: 0, deadLettered: 0 },
    lookups: 0,
    controller,
    done: Promise.resolve(),
    async stop() {
      controller.abort();
      consumer.expireWaiting();
      await loop.done;
    },
  };
  loop.done = runConsumeLoop({
    getConsumer: async () => {
      loop.lookups++;
      if (lookupFailures-- > 0) throw new Error("no responders: the leaf is down");
      return consumer.asConsumer();
    },
    concurrency: o.concurrency ?? 1,
    maxAttempts: o.maxAttempts ?? 3,
    ackWaitMs: o.ackWaitMs ?? 30_000,
    handle: o.handle,
    deadLetter: async (msg, err) => {
      loop.deadLetters.push({ msg, err, settledBefore: (msg as unknown as FakeMsg).settled !== undefined });
      await o.deadLetter?.(msg, err);
    },
    log: pino({ level: "silent" }),
    signal: controller.signal,
    stats: loop.stats,
    onOutcome: (outcome) => loop.outcomes.push(outcome),
  });
  running.push(loop);
  return loop;
}

/** A wait that ends when `release` is called or the loop stops, so a failed test never leaves a lane stuck. */
function gate(signal: AbortSignal): { passed: Promise<void>; release: () => void } {
  let release = () => {};
  const passed = new Promise<void>((resolve) => {
    release = resolve;
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
  return { passed, release };
}

const settled = (...msgs: FakeMsg[]) =>
  pollUntil("every delivery settled", async () => msgs.every((m) => m.settled !== undefined), {
    timeoutMs: 5000,
    intervalMs: 5,
  });

/**
 * The delay the loop's backoff may pick for a delivery: half to all of 500 ms × 2^(n-1), at most 30 s
 * (10 s while a store is down).
 */
const backoffRange = (deliveryCount: number, capMs = 30_000): [number, number] => {
  const ceiling = Math.min(capMs, 500 * 2 ** (deliveryCount - 1));
  return [ceiling / 2, ceiling];
};

function expectNakWithin(m: FakeMsg, capMs?: number): void {
  const s = m.settled;
  expect(s?.kind).toBe("nak");
  const [low, high] = backoffRange(m.info.deliveryCount, capMs);
  const delay = s?.kind === "nak" ? (s.delayMs ?? -1) : -1;
  expect(delay, `delay of delivery ${m.info.deliveryCount}`).toBeGreaterThanOrEqual(low);
  expect(delay).toBeLessThanOrEqual(high);
}

describe("settling a delivery", () => {
  it("acks a message the handler skips as not its work, without counting it handled", async () => {
    const loop = startLoop({ handle: async () => SKIPPED });
    const m = new FakeMsg();
    loop.consumer.deliver(m);
    await settled(m);
    expect(m.settlements).toEqual([{ kind: "ack" }]);
    expect(loop.outcomes).toEqual(["skipped"]);
    expect(loop.stats).toEqual({ handled: 0, retried: 0, deadLettered: 0 });
  });

  it("acks a message handled without error, once, and hands the handler the loop's signal", async () => {
    let seen: AbortSignal | undefined;
    const loop = startLoop({
      handle: async (_m, signal) => {
        seen = signal;
      },
    });
    const m = new FakeMsg();
    loop.consumer.deliver(m);
    await settled(m);
    expect(m.settlements).toEqual([{ kind: "ack" }]);
    expect(seen).toBe(loop.controller.signal);
    expect(loop.stats).toEqual({ handled: 1, retried: 0, deadLettered: 0 });
    expect(loop.outcomes).toEqual(["ok"]);
  });

  it("naks a retryable failure with a delay growing per delivery, then dead-letters at maxAttempts", async () => {
    const err = new Error("ECONNRESET while publishing");
    const loop = startLoop({ maxAttempts: 4, handle: async () => Promise.reject(err) });
    const deliveries = [1, 2, 3, 4].map((n) => new FakeMsg({ deliveryCount: n }));
    for (const m of deliveries) {
      loop.consumer.deliver(m);
      await settled(m);
    }
    for (const m of deliveries.slice(0, 3)) expectNakWithin(m);
    expect(deliveries[3]?.settlements).toEqual([{ kind: "term", reason: "Error: ECONNRESET while publishing" }]);
    expect(loop.deadLetters.map((d) => [d.msg, d.err, d.settledBefore])).toEqual([[deliveries[3], err, false]]);
    expect(loop.stats).toEqual({ handled: 0, retried: 3, deadLettered: 1 });
    expect(loop.outcomes).toEqual(["retry", "retry", "retry", "dead_letter"]);
  });

  it.each([
    ["a poison message", new PoisonMessageError("line 3 of chunk 0 is not valid JSON")],
    ["a store that refuses us", new StoreAccessError("get aws (s3 bucket b, key k): access denied (403)")],
  ])("dead-letters %s on its first delivery, then terms it with the reason", async (_what, err) => {
    const loop = startLoop({ handle: async () => Promise.reject(err) });
    const m = new FakeMsg();
    loop.consumer.deliver(m);
    await settled(m);
    expect(loop.deadLetters).toEqual([{ msg: m, err, settledBefore: false }]);
    expect(m.settlements).toEqual([{ kind: "term", reason: `${err.name}: ${err.message}` }]);
  });

  it("cuts the term reason to 200 characters", async () => {
    const loop = startLoop({ handle: async () => Promise.reject(new PoisonMessageError("x".repeat(500))) });
    const m = new FakeMsg();
    loop.consumer.deliver(m);
    await settled(m);
    expect(m.settled?.kind === "term" && m.settled.reason?.length).toBe(200);
  });

  it("never dead-letters a StoreUnavailableError, however many deliveries, and caps the delay at 10 s", async () => {
    const loop = startLoop({
      maxAttempts: 3,
      handle: async () => Promise.reject(new StoreUnavailableError("put gcp: store unavailable (503)")),
    });
    const deliveries = [1, 3, 4, 9, 40].map((n) => new FakeMsg({ deliveryCount: n }));
    for (const m of deliveries) {
      loop.consumer.deliver(m);
      await settled(m);
      expectNakWithin(m, 10_000);
    }
    expect(loop.deadLetters).toEqual([]);
    expect(loop.stats.retried).toBe(5);
  });

  it("naks instead of terming when the dead letter cannot be published, so the message is not lost", async () => {
    let publishes = 0;
    const loop = startLoop({
      maxAttempts: 1,
      handle: async () => Promise.reject(new PoisonMessageError("bad payload")),
      deadLetter: async () => {
        if (++publishes === 1) throw new Error("publish deadletter.process.aws: timeout");
      },
    });
    const first = new FakeMsg({ deliveryCount: 1 });
    loop.consumer.deliver(first);
    await settled(first);
    expectNakWithin(first);
    expect(loop.stats.deadLettered).toBe(0);
    const second = new FakeMsg({ deliveryCount: 2 });
    loop.consumer.deliver(second);
    await settled(second);
    expect(second.settlements).toEqual([{ kind: "term", reason: "PoisonMessageError: bad payload" }]);
    expect(loop.outcomes).toEqual(["retry", "dead_letter"]);
  });
});

describe("the lease on slow work", () => {
  /** Runs one delivery whose handling waits for `release`, with the lease timer under the test's control. */
  async function slowDelivery(ackWaitMs: number): Promise<{ m: FakeMsg; release: () => void }> {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    let release: (() => void) | undefined;
    const loop = startLoop({
      ackWaitMs,
      handle: async (_m, signal) => {
        const g = gate(signal);
        release = g.release;
        await g.passed;
      },
    });
    const m = new FakeMsg();
    loop.consumer.deliver(m);
    await pollUntil("handling started", async () => release !== undefined, { timeoutMs: 5000, intervalMs: 5 });
    return { m, release: () => release?.() };
  }

  it("calls working() every ackWait/3 while handling runs, and stops once the message is acked", async () => {
    const { m, release } = await slowDelivery(30_000);
    vi.advanceTimersByTime(9_999);
    expect(m.workingCalls).toBe(0);
    vi.advanceTimersByTime(1);
    expect(m.workingCalls).toBe(1);
    vi.advanceTimersByTime(50_000); // five ack waits in all: the message never lapses
    expect(m.workingCalls).toBe(6);
    release();
    await settled(m);
    vi.advanceTimersByTime(60_000);
    expect(m.workingCalls).toBe(6);
    expect(m.settlements).toEqual([{ kind: "ack" }]);
  });

  it("extends the lease at least every second when ackWait is short", async () => {
    const { m, release } = await slowDelivery(1500);
    vi.advanceTimersByTime(3000);
    expect(m.workingCalls).toBe(3);
    release();
    await settled(m);
  });
});

describe("lanes", () => {
  it("handles at most `concurrency` messages at once and pulls only when a lane is free", async () => {
    const gates = new Map<number, () => void>();
    let inFlight = 0;
    let most = 0;
    const loop = startLoop({
      concurrency: 3,
      handle: async (msg, signal) => {
        most = Math.max(most, ++inFlight);
        const g = gate(signal);
        gates.set(msg.info.streamSequence, g.release);
        await g.passed;
        inFlight--;
      },
    });
    const msgs = [1, 2, 3, 4, 5].map((seq) => new FakeMsg({ seq }));
    loop.consumer.deliver(...msgs);
    await pollUntil("three handlers running", async () => gates.size === 3, { timeoutMs: 5000, intervalMs: 5 });
    // Nothing prefetched: the two other messages are still with the consumer, not waiting in a buffer.
    expect(loop.consumer.delivered).toBe(3);
    gates.get(1)?.();
    await pollUntil("a fourth handler", async () => gates.size === 4, { timeoutMs: 5000, intervalMs: 5 });
    expect(loop.consumer.delivered).toBe(4);
    for (let seq = 2; seq <= 5; seq++) {
      await pollUntil(`handler ${seq} started`, async () => gates.has(seq), { timeoutMs: 5000, intervalMs: 5 });
      gates.get(seq)?.();
    }
    await settled(...msgs);
    expect(most).toBe(3);
    expect(msgs.map((m) => m.settlements)).toEqual(msgs.map(() => [{ kind: "ack" }]));
  });

  it("looks the consumer up again after a failed lookup or pull, then carries on", async () => {
    const loop = startLoop({ lookupFailures: 1, handle: async () => {} });
    loop.consumer.failNextPulls = 1;
    const m = new FakeMsg();
    loop.consumer.deliver(m);
    await settled(m);
    expect(m.settlements).toEqual([{ kind: "ack" }]);
    expect(loop.lookups).toBe(3); // failed, then one whose pull failed, then one that worked
  });
});

describe("stopping", () => {
  it("ends every idle lane once its pull returns, and pulls no more", async () => {
    const loop = startLoop({ concurrency: 2, handle: async () => {} });
    await pollUntil("both lanes pulling", async () => loop.consumer.waitingPulls === 2, {
      timeoutMs: 5000,
      intervalMs: 5,
    });
    const pulls = loop.consumer.pulls;
    await loop.stop();
    expect(loop.consumer.pulls).toBe(pulls);
  });

  it("waits for work in hand, which sees the abort, and naks a failure it causes at once", async () => {
    let finished = false;
    const loop = startLoop({
      handle: async (_m, signal) => {
        await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
        finished = true;
        throw new Error("interrupted by shutdown");
      },
    });
    const m = new FakeMsg();
    loop.consumer.deliver(m);
    await pollUntil("handling started", async () => loop.consumer.delivered === 1, { timeoutMs: 5000, intervalMs: 5 });
    await loop.stop();
    expect(finished).toBe(true);
    // Delay 0: another worker may take it straight away instead of after a backoff.
    expect(m.settlements).toEqual([{ kind: "nak", delayMs: 0 }]);
  });
});
