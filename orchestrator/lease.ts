/**
 * One orchestrator active at a time: a lease in the hub's KV bucket `ferry_leader`.
 *
 * - Taking it: `create` of the key (create-only), or, when its holder has gone quiet, an `update`
 *   conditioned on the revision the standby watched not change for `ttlMs` of its own clock. No
 *   clocks are compared across hosts: a standby only times how long a revision has stood still.
 *   A holder that ran on this same machine and container and whose pid is gone (a restart after a
 *   crash under `ferry up`) is replaced at once.
 * - Keeping it: the holder rewrites the key every `renewMs`, each write conditioned on its last
 *   revision. A write that fails because the revision moved means another orchestrator took over.
 * - Fencing: the holder may write only until `ttlMs - marginMs` after it *sent* its last successful
 *   renewal (a standby waits at least `ttlMs` after it *saw* that revision). A process frozen
 *   (SIGSTOP) past that finds, when it thaws, that its monotonic clock has run on: `holds()` is false
 *   before it sends anything, its next renewal fails, and `lost` aborts.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { KV } from "@nats-io/kv";
import type { Logger } from "../observability/log.ts";

/** The key of the orchestrator's lease in the leader bucket. */
export const ORCHESTRATOR_LEASE = "orchestrator";

export interface LeaseOptions {
  /** The leader bucket. */
  kv: KV;
  /** Who asks, e.g. the orchestrator's worker id; written into the lease for `status`. */
  holder: string;
  log: Logger;
  /** Stops waiting, and releases a held lease. */
  signal: AbortSignal;
  /** @default "orchestrator" */
  key?: string;
  /** How long a lease whose revision stands still stays its holder's. @default 5000 */
  ttlMs?: number;
  /** Time between renewals. @default 1000 */
  renewMs?: number;
  /** Time between a standby's looks at the lease. @default 500 */
  pollMs?: number;
  /** The holder stops writing this long before a standby may take over. @default 1500 */
  marginMs?: number;
}

/** What is stored under the lease key. */
export interface LeaseValue {
  holder: string;
  host: string;
  /** The kernel's boot id: with `host`, says the holder ran on this very machine (and container). */
  boot: string;
  pid: number;
  acquiredAt: string;
  renewedAt: string;
}

/** A held lease. */
export interface Lease {
  readonly holder: string;
  /** Whether this process may write now. */
  holds(): boolean;
  /** Throws `LeaseLostError` unless `holds()`; `what` names the write refused. */
  assertHeld(what: string): void;
  /** Aborts once another holder has the lease (or the process stops). */
  readonly lost: AbortSignal;
  /** Stops renewing and deletes the key if it is still ours, so a standby takes over at once. */
  release(): Promise<void>;
}

/** A write refused because this orchestrator is not (or no longer) the active one. */
export class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

const now = (): number => performance.now();

/** Waits until this process holds the lease (a standby waits here), then keeps it renewed. */
export async function acquireLease(options: LeaseOptions): Promise<Lease> {
  const o = compile(options);
  let watched: { revision: number; since: number } | undefined;
  while (!o.signal.aborted) {
    const sent = now();
    try {
      const entry = await o.kv.get(o.key);
      const value = JSON.stringify(leaseValue(o.holder, new Date().toISOString()));
      if (entry?.operation !== "PUT") {
        return holdLease(o, await o.kv.create(o.key, value), sent);
      }
      const held = entry.json<LeaseValue>();
      if (watched?.revision !== entry.revision) watched = { revision: entry.revision, since: now() };
      const quietMs = now() - watched.since;
      // A holder that ran here and whose process is gone cannot renew: no need to wait out its TTL.
      if (quietMs >= o.ttlMs || diedHere(held)) {
        const revision = await o.kv.update(o.key, value, entry.revision);
        o.log.warn({ previous: held.holder, quietMs: Math.round(quietMs) }, "orchestrator lease taken over");
        return holdLease(o, revision, sent);
      }
    } catch (err) {
      // Another standby won the race, or the hub is electing a leader: look again.
      o.log.debug({ err: (err as Error).message }, "orchestrator lease not taken; retrying");
    }
    await sleep(o.pollMs, undefined, { signal: o.signal }).catch(() => undefined);
  }
  throw new LeaseLostError("stopped while waiting for the orchestrator lease");
}

type Compiled = Required<Omit<LeaseOptions, "log">> & { log: Logger };

function compile(options: LeaseOptions): Compiled {
  return {
    key: ORCHESTRATOR_LEASE,
    ttlMs: 5000,
    renewMs: 1000,
    pollMs: 500,
    marginMs: 1500,
    ...options,
    log: options.log.child({ component: "lease" }),
  };
}

function leaseValue(holder: string, at: string, acquiredAt = at): LeaseValue {
  return { holder, host: hostname(), boot: BOOT_ID, pid: process.pid, acquiredAt, renewedAt: at };
}

/** Empty where the kernel does not say (then no holder is ever judged dead by its pid). */
const BOOT_ID = (() => {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "";
  }
})();

/**
 * Whether the lease's holder ran on this machine, in this container, and its process is gone.
 * Containers on one kernel share the boot id but not the host name, nor the pid namespace.
 */
function diedHere(v: LeaseValue): boolean {
  if (BOOT_ID === "" || v.boot !== BOOT_ID || v.host !== hostname() || v.pid === process.pid) return false;
  try {
    process.kill(v.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** Keeps a freshly taken lease renewed until it is lost or released. */
function holdLease(o: Compiled, firstRevision: number, firstSent: number): Lease {
  let revision = firstRevision;
  let validUntil = firstSent + o.ttlMs - o.marginMs;
  const acquiredAt = new Date().toISOString();
  const lost = new AbortController();
  const stopRenewing = new AbortController();
  const holds = (): boolean => !lost.signal.aborted && now() < validUntil;
  const loseTo = (holder: string | undefined): void => {
    if (lost.signal.aborted) return;
    o.log.warn({ holder: holder ?? "nobody" }, "orchestrator lease lost: standing down, writing nothing more");
    lost.abort(new LeaseLostError(`the orchestrator lease is held by ${holder ?? "nobody"}`));
  };
  o.signal.addEventListener("abort", () => lost.abort(new LeaseLostError("stopping")), { once: true });
  void (async () => {
    while (!lost.signal.aborted && !stopRenewing.signal.aborted) {
      await sleep(o.renewMs, undefined, { signal: stopRenewing.signal }).catch(() => undefined);
      if (lost.signal.aborted || stopRenewing.signal.aborted) return;
      const sent = now();
      try {
        const value = JSON.stringify(leaseValue(o.holder, new Date().toISOString(), acquiredAt));
        revision = await o.kv.update(o.key, value, revision);
        validUntil = sent + o.ttlMs - o.marginMs;
      } catch (err) {
        // Lost only when the key shows another revision; a hub that does not answer may still come back.
        const entry = await o.kv.get(o.key).catch(() => undefined);
        if (entry === undefined) {
          o.log.warn({ err: (err as Error).message }, "cannot renew the orchestrator lease; retrying");
        } else if (entry === null || entry.revision !== revision) {
          loseTo(entry?.operation === "PUT" ? entry.json<LeaseValue>().holder : undefined);
        }
      }
    }
  })();
  return {
    holder: o.holder,
    holds,
    lost: lost.signal,
    assertHeld(what) {
      if (!holds()) throw new LeaseLostError(`${what} refused: this orchestrator does not hold the lease`);
    },
    async release() {
      stopRenewing.abort();
      if (lost.signal.aborted && !o.signal.aborted) return;
      lost.abort(new LeaseLostError("released"));
      await o.kv.delete(o.key, { previousSeq: revision }).catch(() => undefined);
    },
  };
}
