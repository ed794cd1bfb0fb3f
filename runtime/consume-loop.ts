import type { Consumer, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../observability/log.ts";
import { traceMessage } from "../observability/message-spans.ts";
import type { HandlingOutcome } from "../observability/metrics.ts";
import { failActiveSpan } from "../observability/spans.ts";
import { describeError, isRetryable, StoreUnavailableError } from "../shared/errors.ts";
import { backoffMs, pause } from "../shared/retry.ts";

export interface ConsumeLoopOptions {
  /** Looks the durable consumer up; called again after a failure (e.g. the leaf link was cut). */
  getConsumer: () => Promise<Consumer>;
  /** Messages handled at once, one pulling lane each; nothing is prefetched, so a killed worker strands only these. */
  concurrency: number;
  /** Deliveries before a failing message goes to the dead-letter stream. */
  maxAttempts: number;
  ackWaitMs: number;
  /** Handles one message; resolves to `SKIPPED` when it was not this worker's work (acked, not counted as handled). */
  handle: (msg: JsMsg, signal: AbortSignal) => Promise<unknown>;
  deadLetter: (msg: JsMsg, err: unknown) => Promise<void>;
  /** Failures that make a message wait, however many deliveries it took, as a store outage does (e.g. the hub electing a leader). */
  waits?: (err: unknown) => boolean;
  log: Logger;
  signal: AbortSignal;
  /** Counters the worker reports to `ferry status`. */
  stats?: LoopStats;
  /** Called once per message when handling ends, with how it ended and how long it took (metrics). */
  onOutcome?: (outcome: HandlingOutcome, msg: JsMsg, durationMs: number) => void;
}

/** What a handler resolves to for a message that was not its worker's work. */
export const SKIPPED = Symbol("skipped");

export interface LoopStats {
  handled: number;
  retried: number;
  deadLettered: number;
}

/** Longest delay between tries of a message waiting for a store to come back. */
const STORE_OUTAGE_MAX_DELAY_MS = 10_000;

/** How long one pull waits for a message; also bounds how long a stop waits for an idle lane. */
const PULL_EXPIRES_MS = 3000;

/**
 * Pulls from a durable consumer and handles messages until `signal` aborts, in `concurrency` lanes.
 * A lane pulls one message only when it is free, so no message ever waits unleased in a buffer
 * (one that waited past ack_wait would be redelivered to a second worker while still queued here).
 * Success acks; a retryable failure naks with backoff; a poison message (or one out of attempts)
 * is dead-lettered and then terminated, except while a store is unavailable: then it waits. In-flight work keeps its lease with `working()`.
 */
export async function runConsumeLoop(options: ConsumeLoopOptions): Promise<void> {
  await Promise.all(Array.from({ length: options.concurrency }, () => runLane(options)));
}

async function runLane(options: ConsumeLoopOptions): Promise<void> {
  let consumer: Consumer | undefined;
  let failures = 0;
  while (!options.signal.aborted) {
    try {
      consumer ??= await options.getConsumer();
      const msg = await consumer.next({ expires: PULL_EXPIRES_MS });
      failures = 0;
      // One CONSUMER span per delivery; the retry and dead-letter decisions below happen inside it.
      if (msg) await traceMessage(msg, options.log, (log) => handleOne({ ...options, log }, msg));
    } catch (err) {
      consumer = undefined;
      failures++;
      if (failures === 1 || failures % 20 === 0)
        options.log.warn({ err: describeError(err), failures }, "consumer unavailable; retrying");
      // Aborted: the loop ends.
      await pause(backoffMs(failures, 250, 5000), options.signal).catch(() => undefined);
    }
  }
}

async function handleOne(options: ConsumeLoopOptions, msg: JsMsg): Promise<void> {
  const lease = setInterval(() => msg.working(), Math.max(1000, options.ackWaitMs / 3));
  const attempt = msg.info.deliveryCount;
  const started = performance.now();
  let outcome: HandlingOutcome = "retry";
  try {
    const result = await options.handle(msg, options.signal);
    msg.ack();
    outcome = result === SKIPPED ? "skipped" : "ok";
    if (options.stats && outcome === "ok") options.stats.handled++;
  } catch (err) {
    failActiveSpan(err);
    // A store that is down is nobody's fault in the message: the chunk waits for it (with a delay
    // growing to 10 s between tries, so work resumes soon after the store returns) for as long as the
    // outage lasts, instead of being dead-lettered. So does a failure the caller says must wait.
    const storeDown = err instanceof StoreUnavailableError;
    const waits = storeDown || options.waits?.(err) === true;
    if (waits || (isRetryable(err) && attempt < options.maxAttempts)) {
      const delay = backoffMs(attempt, 500, storeDown ? STORE_OUTAGE_MAX_DELAY_MS : undefined);
      options.log.warn(
        { err: describeError(err), subject: msg.subject, seq: msg.info.streamSequence, attempt, delayMs: delay },
        "will retry",
      );
      msg.nak(options.signal.aborted ? 0 : delay);
      if (options.stats) options.stats.retried++;
      return;
    }
    options.log.error(
      { err: describeError(err), subject: msg.subject, seq: msg.info.streamSequence, attempt },
      "dead-lettered",
    );
    try {
      await options.deadLetter(msg, err);
      msg.term(describeError(err).slice(0, 200));
      outcome = "dead_letter";
      if (options.stats) options.stats.deadLettered++;
    } catch (dlErr) {
      options.log.error({ err: describeError(dlErr) }, "could not record dead letter; will retry");
      msg.nak(backoffMs(attempt));
    }
  } finally {
    clearInterval(lease);
    options.onOutcome?.(outcome, msg, performance.now() - started);
  }
}
