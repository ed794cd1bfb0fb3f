import type { Consumer, JsMsg } from "@nats-io/jetstream";
import { describeError, isRetryable } from "../errors.ts";
import type { Logger } from "../../observability/log.ts";
import { backoffMs } from "./backoff.ts";
import { Semaphore } from "./semaphore.ts";

export interface ConsumeLoopOptions {
  /** Looks the durable consumer up; called again after a failure (e.g. the leaf link was cut). */
  getConsumer: () => Promise<Consumer>;
  /** Messages handled at once; also the prefetch, kept small so a killed worker strands little. */
  concurrency: number;
  /** Deliveries before a failing message goes to the dead-letter stream. */
  maxAttempts: number;
  ackWaitMs: number;
  handle: (msg: JsMsg, signal: AbortSignal) => Promise<void>;
  deadLetter: (msg: JsMsg, err: unknown) => Promise<void>;
  log: Logger;
  signal: AbortSignal;
  /** Counters the worker reports to `ferry status`. */
  stats?: LoopStats;
}

export interface LoopStats {
  handled: number;
  retried: number;
  deadLettered: number;
}

/**
 * Pulls from a durable consumer and handles messages with bounded concurrency until `signal` aborts.
 * Success acks; a retryable failure naks with backoff; a poison message (or one out of attempts)
 * is dead-lettered and then terminated. In-flight work keeps its lease with `working()`.
 */
export async function runConsumeLoop(o: ConsumeLoopOptions): Promise<void> {
  const slots = new Semaphore(o.concurrency);
  const inFlight = new Set<Promise<void>>();
  let failures = 0;
  while (!o.signal.aborted) {
    try {
      const consumer = await o.getConsumer();
      const messages = await consumer.consume({ max_messages: o.concurrency });
      const stop = () => messages.stop();
      o.signal.addEventListener("abort", stop, { once: true });
      failures = 0;
      try {
        for await (const msg of messages) {
          await slots.acquire();
          const p = handleOne(o, msg).finally(() => {
            slots.release();
            inFlight.delete(p);
          });
          inFlight.add(p);
          if (o.signal.aborted) break;
        }
      } finally {
        o.signal.removeEventListener("abort", stop);
      }
    } catch (err) {
      failures++;
      o.log.warn({ err: describeError(err) }, "consumer unavailable; retrying");
    }
    if (!o.signal.aborted) await sleep(backoffMs(failures + 1, 250, 5000), o.signal);
  }
  await Promise.allSettled(inFlight);
}

async function handleOne(o: ConsumeLoopOptions, msg: JsMsg): Promise<void> {
  const lease = setInterval(() => msg.working(), Math.max(1000, o.ackWaitMs / 3));
  const attempt = msg.info.deliveryCount;
  try {
    await o.handle(msg, o.signal);
    msg.ack();
    if (o.stats) o.stats.handled++;
  } catch (err) {
    if (isRetryable(err) && attempt < o.maxAttempts) {
      const delay = backoffMs(attempt);
      o.log.warn({ err: describeError(err), subject: msg.subject, seq: msg.info.streamSequence, attempt, delayMs: delay }, "will retry");
      msg.nak(o.signal.aborted ? 0 : delay);
      if (o.stats) o.stats.retried++;
      return;
    }
    o.log.error({ err: describeError(err), subject: msg.subject, seq: msg.info.streamSequence, attempt }, "dead-lettered");
    try {
      await o.deadLetter(msg, err);
      msg.term(describeError(err).slice(0, 200));
      if (o.stats) o.stats.deadLettered++;
    } catch (dlErr) {
      o.log.error({ err: describeError(dlErr) }, "could not record dead letter; will retry");
      msg.nak(backoffMs(attempt));
    }
  } finally {
    clearInterval(lease);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
