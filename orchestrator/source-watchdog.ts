/**
 * Keeps a sourcing stream pulling from its sources: the hub's EVENTS from every cloud's stream, and
 * each cloud's WORK from the hub's EVENTS (reached through the leaf link, in the cloud's domain).
 * nats-server leaves a source idle for ~40 s when the hub (re)starts before the leaves link, ~10-20 s
 * after a leaf restart, and ~20-30 s after a link partition heals (see streams/source-health.ts); this
 * checks the sources every `intervalMs` and re-establishes the stalled ones, exactly where they left
 * off. It also puts back a declared source found missing from the config.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { StreamSource } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../observability/log.ts";
import { EVENTS_STREAM } from "../shared/stream-names.ts";
import type { Topology } from "../shared/topology/config.ts";
import { eventsStream, workEventsStream } from "../streams/definitions.ts";
import { nudgeStalledSources, SourceMemory } from "../streams/source-health.ts";
import type { SourceReport, SourceVerdict } from "../streams/source-verdict.ts";

export interface SourceWatchdogOptions {
  /** A connection to the hub. */
  nc: NatsConnection;
  /** The JetStream domain of the sourcing stream: the hub's, or a cloud's (its leaf). */
  domain: string;
  /** The sourcing stream. */
  stream: string;
  /** The sources its declared config has. */
  expected: StreamSource[];
  log: Logger;
  /** Stops the watchdog. */
  signal: AbortSignal;
  /** Time between checks. A check of healthy sources is one stream info on the hub. @default 1000 */
  intervalMs?: number;
  /** Silence (sources get a heartbeat every 1 s) after which a source with work waiting is re-established. @default 3000 */
  minIdleMs?: number;
  /** Called with every check's reports (for tests and status). */
  onReport?: (reports: SourceReport[]) => void;
}

/** What is worth a log line; the rest is routine. */
const LEVEL: Partial<Record<SourceVerdict, "info" | "warn">> = {
  nudged: "info",
  restored: "warn",
  failed: "warn",
  "no-mark": "warn",
  "remote-behind": "warn",
  lagging: "warn",
};

/** Runs until `signal` aborts; resolves then. Never rejects: a failed check is logged and retried. */
export async function startSourceWatchdog(options: SourceWatchdogOptions): Promise<void> {
  const log = options.log.child({ component: "source-watchdog" });
  const { stream, domain, expected } = options;
  const intervalMs = options.intervalMs ?? 1000;
  const memory = new SourceMemory();
  const lastVerdict = new Map<string, SourceVerdict>();
  let lastError = "";
  while (!options.signal.aborted) {
    try {
      const reports = await nudgeStalledSources(options.nc, stream, {
        domain,
        expected,
        memory,
        ...(options.minIdleMs === undefined ? {} : { minIdleMs: options.minIdleMs }),
      });
      if (lastError) log.info({ stream }, "source check works again");
      lastError = "";
      for (const r of reports) {
        const key = `${r.source}@${r.api ?? ""}`;
        const before = lastVerdict.get(key);
        lastVerdict.set(key, r.verdict);
        const level = LEVEL[r.verdict];
        // Actions every time; standing conditions once, when they start.
        const acted = r.verdict === "nudged" || r.verdict === "lagging" || r.verdict === "restored";
        if (level && (acted || r.verdict !== before)) {
          log[level]({ stream, ...r }, `source ${r.source}: ${r.verdict}`);
        } else if (r.verdict !== before) {
          log.debug({ stream, ...r }, `source ${r.source}: ${r.verdict}`);
        }
      }
      options.onReport?.(reports);
    } catch (err) {
      // The hub is restarting or unreachable: the connection reconnects by itself.
      const message = (err as Error).message;
      if (message !== lastError) log.warn({ stream, err: message }, "cannot check the stream's sources; retrying");
      lastError = message;
    }
    await sleep(intervalMs, undefined, { signal: options.signal }).catch(() => undefined);
  }
}

/** Every sourcing stream of a deployment, in its domain, with its declared sources: what the watchdogs keep pulling. */
export function sourcingStreams(t: Topology): Array<Pick<SourceWatchdogOptions, "domain" | "stream" | "expected">> {
  const events = { domain: t.hubDomain, stream: EVENTS_STREAM, expected: eventsStream(t).sources ?? [] };
  const work = t.clouds.map((c) => {
    const def = workEventsStream(t, c.name);
    return { domain: c.name, stream: def.name, expected: def.sources ?? [] };
  });
  return [events, ...work.filter((w) => w.expected.length > 0)];
}
