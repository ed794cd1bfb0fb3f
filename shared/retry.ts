/**
 * The one way ferry waits and tries again: `backoffMs` for the delay, `retry` for an operation that
 * may fail for a while, `pollUntil` for a condition that becomes true. Every hand-written loop of
 * "try, sleep, try again until a deadline" goes through here, so each gets the same jitter, abort
 * handling and error messages.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { FerryError } from "./errors.ts";

/** Delay before the next attempt: exponential from `baseMs`, capped, with full jitter in the upper half. */
export function backoffMs(attempt: number, baseMs = 500, capMs = 30_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts: number;
  /** Delay before the second try; it doubles per try, with jitter (backoffMs). @default 500 */
  baseMs?: number;
  /** Longest delay between tries. @default 30000 */
  capMs?: number;
  /** Whether a failure is worth another try. @default every failure */
  retryable?: (err: unknown, attempt: number) => boolean;
  /** Called before each delay, with the failure and the delay about to be waited (for logs). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Stops the waiting and the tries: the abort reason is thrown. */
  signal?: AbortSignal;
}

/**
 * Runs `op` until it succeeds, a failure is not retryable, or `attempts` tries are used up; then
 * throws the last failure. `op` gets the 1-based attempt number.
 */
export async function retry<T>(op: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { attempts, baseMs = 500, capMs = 30_000, signal } = options;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await op(attempt);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (attempt >= attempts || options.retryable?.(err, attempt) === false) throw err;
      const delay = backoffMs(attempt, baseMs, capMs);
      options.onRetry?.(err, attempt, delay);
      await pause(delay, signal);
    }
  }
}

/** What a poll's check says: `true` when done, or what it saw (quoted if the poll times out). */
export type PollAnswer = true | false | string;

export interface PollOptions {
  /** Give up after this long. */
  timeoutMs: number;
  /** Time between checks. @default 100 */
  intervalMs?: number;
  /** Stops polling: the abort reason is thrown. */
  signal?: AbortSignal;
  /**
   * Whether a check that threw counts as "not yet"; one that does not ends the poll with its error.
   * @default every error
   */
  retryable?: (err: unknown) => boolean;
}

/**
 * A condition that did not become true in time; the message names it and what was last seen. A
 * FerryError, so the command line prints the message without a stack trace.
 */
export class PollTimeoutError extends FerryError {}

/**
 * Checks `check` until it answers `true`; a check that throws counts as "not yet" (unless `retryable`
 * says otherwise). Throws PollTimeoutError after `timeoutMs`, naming `what` and the last answer or
 * error seen.
 */
export async function pollUntil(what: string, check: () => Promise<PollAnswer>, options: PollOptions): Promise<void> {
  const { done, lastSeen } = await poll(check, options);
  if (!done) throw new PollTimeoutError(`${what}: not true within ${options.timeoutMs} ms${lastSeen}`);
}

/** Like pollUntil, but answers whether the condition became true in time instead of throwing. */
export async function becomesTrue(check: () => Promise<PollAnswer>, options: PollOptions): Promise<boolean> {
  return (await poll(check, options)).done;
}

/** The loop both share: whether `check` said true before the deadline, and what it last said if not. */
async function poll(
  check: () => Promise<PollAnswer>,
  options: PollOptions,
): Promise<{ done: boolean; lastSeen: string }> {
  const { timeoutMs, intervalMs = 100, signal } = options;
  const deadline = Date.now() + timeoutMs;
  let lastSeen = "";
  for (;;) {
    signal?.throwIfAborted();
    try {
      const answer = await check();
      if (answer === true) return { done: true, lastSeen };
      if (typeof answer === "string") lastSeen = ` (last seen: ${answer})`;
    } catch (err) {
      if (options.retryable?.(err) === false) throw err;
      lastSeen = ` (last error: ${err instanceof Error ? err.message : String(err)})`;
    }
    const left = deadline - Date.now();
    if (left <= 0) return { done: false, lastSeen };
    await pause(Math.min(intervalMs, left), signal);
  }
}

/** Waits `ms`; when `signal` aborts first, throws its reason (not Node's generic AbortError). */
export async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (err) {
    throw signal?.aborted ? signal.reason : err;
  }
}
