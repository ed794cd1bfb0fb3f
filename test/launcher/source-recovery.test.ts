import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type PubAck,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { connect, type NatsConnection, nanos } from "@nats-io/transport-node";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSourceWatchdog } from "../../orchestrator/source-watchdog.ts";
import { natsAuthOptions } from "../../shared/nats/identity.ts";
import { waitForLeafLinks } from "../../shared/nats/monitoring.ts";
import { natsTlsOptions } from "../../shared/nats/tls-options.ts";
import { becomesTrue, pollUntil } from "../../shared/retry.ts";
import { cloudStream, EVENTS_STREAM } from "../../shared/stream-names.ts";
import { chunkSubject } from "../../shared/subjects.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import type { Deployment } from "../../shared/topology/deployment.ts";
import { adminOf } from "../../shared/topology/nats-identities.ts";
import { applyAllStreams } from "../../streams/apply.ts";
import { cloudStreamSource } from "../../streams/definitions.ts";
import { nudgeStalledSources, SourceMemory } from "../../streams/source-health.ts";
import { parseSourceHeader, sourceHeaderId, sourceKey } from "../../streams/source-identity.ts";
import type { SourceReport } from "../../streams/source-verdict.ts";
import { type NatsTopology, startNatsTopology } from "../../supervisor/nats-topology.ts";
import { planDeployment } from "../../supervisor/plan.ts";

// Real nats-server processes ($FERRY_NATS_SERVER or PATH). nats-server 2.14.9 / 2.15.2 on their own resume a
// source ~40 s after a hub restart and ~10-20 s after a leaf restart; the watchdog brings both down to seconds.

const CLOUDS = ["aws", "gcp", "azure"];
const silent = pino({ level: "silent" });
const tempDirs: string[] = [];

afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A deployment with real servers, clients on every server, and helpers to publish and count. */
async function world(clouds: string[], topologyExtra: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "ferry-src-"));
  tempDirs.push(dir);
  const d: Deployment = await planDeployment(
    compileTopology({ clouds: clouds.map((name) => ({ name })), ...topologyExtra }),
    dir,
  );
  const topo: NatsTopology = await startNatsTopology(d);
  const nc: Record<string, NatsConnection> = {};
  const jsm: Record<string, JetStreamManager> = {};
  for (const [name, ep] of [["hub", d.hub] as const, ...Object.entries(d.leaves)]) {
    nc[name] = await connect({
      servers: ep.url,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...natsTlsOptions(),
      ...natsAuthOptions(adminOf(d)),
    });
    // Short API timeout: a request issued while the client reconnects is dropped, so fail fast and retry.
    jsm[name] = await jetstreamManager(nc[name], { timeout: 2000, ...(name === "hub" ? {} : { domain: name }) });
  }
  const next: Record<string, number> = {};
  return {
    d,
    topo,
    nc,
    jsm,
    /** Publishes `n` events on the cloud's leaf, each with its own msgID, retrying through reconnects. */
    async publish(cloud: string, n: number): Promise<PubAck[]> {
      const acks: PubAck[] = [];
      for (let k = 0; k < n; k++) {
        const i = (next[cloud] ?? 0) + 1;
        next[cloud] = i;
        let ack: PubAck | undefined;
        await pollUntil(
          `publish ${cloud}:${i}`,
          async () => {
            ack = await jetstream(nc[cloud]!).publish(chunkSubject("ingested", cloud), `${cloud} ${i}`, {
              msgID: `${cloud}:${i}`,
              timeout: 2000,
            });
            return true;
          },
          { timeoutMs: 15_000 },
        );
        acks.push(ack!);
      }
      return acks;
    },
    count: async (server: string, stream: string): Promise<number> =>
      (await jsm[server]!.streams.info(stream)).state.messages,
    /** Msg-ids of every message the hub stream holds, in order. */
    async ids(stream: string): Promise<string[]> {
      const { state } = await jsm.hub!.streams.info(stream);
      const out: string[] = [];
      for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
        const m = await jsm.hub!.streams.getMessage(stream, { seq }).catch(() => null);
        if (m) out.push(m.header.get("Nats-Msg-Id"));
      }
      return out;
    },
    async stop(): Promise<void> {
      await Promise.allSettled(Object.values(nc).map((c) => c.close()));
      await topo.stop();
    },
  };
}
type World = Awaited<ReturnType<typeof world>>;

function expectEachOnce(ids: string[]): void {
  const seen = new Map<string, number>();
  for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
  expect([...seen].filter(([, n]) => n > 1)).toEqual([]);
}

describe("the source watchdog on the real EVENTS stream", () => {
  let w: World;
  let watchdogNc: NatsConnection;
  const stop = new AbortController();
  let watchdog: Promise<void>;
  const reports: SourceReport[][] = [];
  const nudged = (source: string) => reports.flat().filter((r) => r.source === source && r.verdict === "nudged");

  beforeAll(async () => {
    w = await world(CLOUDS);
    await applyAllStreams(w.d);
    await w.publish("aws", 10);
    await w.publish("gcp", 10);
    await pollUntil("EVENTS holds 20", async () => (await w.count("hub", EVENTS_STREAM)) === 20 || "not yet", {
      timeoutMs: 15_000,
    });
    // The orchestrator's own connection to the hub.
    watchdogNc = await connect({
      servers: w.d.hub.url,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...natsTlsOptions(),
      ...natsAuthOptions({ name: "orchestrator", home: w.d.dataDir }),
    });
    watchdog = startSourceWatchdog({
      nc: watchdogNc,
      domain: w.d.topology.hubDomain,
      stream: EVENTS_STREAM,
      expected: CLOUDS.map(cloudStreamSource),
      log: silent,
      signal: stop.signal,
      onReport: (r) => reports.push(r),
    });
  }, 60_000);

  afterAll(async () => {
    stop.abort();
    await watchdog;
    await watchdogNc?.close();
    await w?.stop();
  }, 30_000);

  const leafTotal = async () => {
    let n = 0;
    for (const c of CLOUDS) n += await w.count(c, cloudStream(c));
    return n;
  };

  it("reports every source healthy and changes nothing while sourcing works", async () => {
    await pollUntil("a report", async () => reports.length >= 2 || "none yet", { timeoutMs: 5000 });
    const last = reports.at(-1)!;
    expect(last.map((r) => [r.source, r.verdict]).sort()).toEqual(
      CLOUDS.map((c) => [cloudStream(c), "healthy"]).sort(),
    );
    expect(last.find((r) => r.source === "CLOUD_AWS")?.mark).toBe(10);
    expect(reports.flat().filter((r) => r.verdict !== "healthy")).toEqual([]);
  });

  it("hub SIGKILLed while the leaves keep acking: EVENTS catches up within seconds, each event once", {
    timeout: 60_000,
  }, async () => {
    await w.topo.hub.kill();
    await w.publish("aws", 4);
    await w.publish("gcp", 4);
    await w.publish("azure", 3);
    const t0 = Date.now();
    await w.topo.hub.restart();
    const ready = Date.now() - t0;
    await waitForLeafLinks(w.d.hub, CLOUDS, 5_000);
    const total = await leafTotal();
    expect(total).toBe(31);
    await pollUntil(
      "EVENTS holds every leaf event",
      async () => {
        const n = await w.count("hub", EVENTS_STREAM);
        return n === total || `${n} of ${total}`;
      },
      { timeoutMs: 10_000 },
    );
    const caughtUp = Date.now() - t0;
    console.log(`hub restart: ready after ${ready} ms, EVENTS caught up ${caughtUp} ms after the restart began`);
    // The server alone waits ~40 s; nudged, it took 4-8 s here (more with the cores busy).
    expect(caughtUp).toBeLessThan(15_000);
    expect(nudged("CLOUD_AWS").length).toBeGreaterThan(0);

    const ids = await w.ids(EVENTS_STREAM);
    expect(ids).toHaveLength(total);
    expectEachOnce(ids);
    // Nothing trickles in later either.
    await sleep(1500);
    expect(await w.count("hub", EVENTS_STREAM)).toBe(total);
  });

  it("takes its opt_start_seq back out once the sources run again", { timeout: 20_000 }, async () => {
    await pollUntil(
      "declared sources only",
      async () => {
        const sources = (await w.jsm.hub!.streams.info(EVENTS_STREAM)).config.sources ?? [];
        const extra = sources.filter((s) => s.opt_start_seq !== undefined);
        return (sources.length === CLOUDS.length && extra.length === 0) || JSON.stringify(sources);
      },
      { timeoutMs: 10_000 },
    );
  });

  it("a restarted leaf's events arrive within seconds", { timeout: 40_000 }, async () => {
    const before = await w.count("hub", EVENTS_STREAM);
    const t0 = Date.now();
    await w.topo.leaves.gcp!.restart();
    await w.publish("gcp", 3);
    await pollUntil(
      "EVENTS holds the new gcp events",
      async () => {
        const n = await w.count("hub", EVENTS_STREAM);
        return n === before + 3 || `${n} of ${before + 3}`;
      },
      { timeoutMs: 15_000 },
    );
    console.log(`leaf restart: EVENTS caught up ${Date.now() - t0} ms after the restart began`);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expectEachOnce(await w.ids(EVENTS_STREAM));
  });

  it("puts back a declared source found missing (a nudge cut short), where it left off", {
    timeout: 30_000,
  }, async () => {
    const sources = (await w.jsm.hub!.streams.info(EVENTS_STREAM)).config.sources ?? [];
    await w.jsm.hub!.streams.update(EVENTS_STREAM, { sources: sources.filter((s) => s.name !== "CLOUD_AZURE") });
    await w.publish("azure", 2);
    const total = await leafTotal();
    await pollUntil(
      "EVENTS holds every leaf event",
      async () => {
        const n = await w.count("hub", EVENTS_STREAM);
        return n === total || `${n} of ${total}`;
      },
      { timeoutMs: 10_000 },
    );
    expect(reports.flat().some((r) => r.source === "CLOUD_AZURE" && r.verdict === "restored")).toBe(true);
    expectEachOnce(await w.ids(EVENTS_STREAM));
  });
});

describe("a source whose events all expired from the sourcing stream", () => {
  // The hub stream keeps events 4 s, the leaves 7 days: the hub soon holds nothing from aws while aws still has it all.
  const STREAM = "RECENT";
  let w: World;
  const memory = new SourceMemory();
  /** Msg-id of every message ever stored in STREAM, in order, read as they arrive (they expire soon after). */
  const stored: string[] = [];

  beforeAll(async () => {
    w = await world(["aws", "gcp"]);
    await applyAllStreams(w.d);
    await w.jsm.hub!.streams.add({
      name: STREAM,
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(4000),
      sources: ["aws", "gcp"].map(cloudStreamSource),
    });
    const messages = await (await jetstream(w.nc.hub!).consumers.get(STREAM)).consume();
    void (async () => {
      for await (const m of messages) stored.push(m.headers?.get("Nats-Msg-Id") ?? "?");
    })();
  }, 60_000);

  afterAll(async () => {
    await w?.stop();
  }, 30_000);

  const expired = () =>
    pollUntil(`${STREAM} expired`, async () => (await w.count("hub", STREAM)) === 0 || "not yet", {
      timeoutMs: 20_000,
    });
  const storedNow = (n: number) =>
    pollUntil(`${n} stored in ${STREAM}`, async () => stored.length >= n || stored.join(","), { timeoutMs: 10_000 });
  const silentAws = async (mem: SourceMemory): Promise<SourceReport> => {
    let report: SourceReport | undefined;
    await pollUntil(
      "aws reported silent",
      async () => {
        report = (await nudgeStalledSources(w.nc.hub!, STREAM, { domain: "hub", memory: mem, dryRun: true })).find(
          (r) => r.source === "CLOUD_AWS",
        );
        return (
          (report !== undefined && report.verdict !== "healthy") || `${report?.verdict}, idle ${report?.idleMs} ms`
        );
      },
      { timeoutMs: 20_000 },
    );
    return report!;
  };

  it("leaf restart: resumes after the last event it got, not from the leaf's first, and skips none", {
    timeout: 90_000,
  }, async () => {
    await w.publish("aws", 5);
    await storedNow(5);
    const seen = await nudgeStalledSources(w.nc.hub!, STREAM, { domain: "hub", memory });
    expect(seen.find((r) => r.source === "CLOUD_AWS")).toMatchObject({ verdict: "healthy", mark: 5 });
    await expired();

    // Stall the aws source, publish past it, and let gcp's newer event make the server's time-based guess skip aws's.
    await w.topo.leaves.aws!.restart();
    await w.publish("aws", 2);
    await w.publish("gcp", 1);
    await storedNow(6);

    // Without a mark (nothing from aws in the stream, nothing remembered) it is left to the server.
    const blind = await silentAws(new SourceMemory());
    expect(blind).toMatchObject({ verdict: "no-mark", remoteLastSeq: 7 });
    expect(blind.mark).toBeUndefined();

    // With the remembered mark it resumes at aws seq 6.
    const reports = await nudgeStalledSources(w.nc.hub!, STREAM, { domain: "hub", memory, minIdleMs: 0 });
    expect(reports.find((r) => r.source === "CLOUD_AWS")).toMatchObject({
      verdict: "nudged",
      mark: 5,
      startSeq: 6,
      remoteLastSeq: 7,
    });
    await storedNow(8);
    await sleep(1500);
    expect(stored).toEqual(["aws:1", "aws:2", "aws:3", "aws:4", "aws:5", "gcp:1", "aws:6", "aws:7"]);
    // The next check (the watchdog's next tick) sees it running, remembers 7 and takes opt_start_seq out again.
    const after = await nudgeStalledSources(w.nc.hub!, STREAM, { domain: "hub", memory });
    expect(after.find((r) => r.source === "CLOUD_AWS")).toMatchObject({ verdict: "healthy", mark: 7 });
    const sources = (await w.jsm.hub!.streams.info(STREAM)).config.sources ?? [];
    expect(sources.map((x) => [x.name, x.opt_start_seq])).toEqual([
      ["CLOUD_AWS", undefined],
      ["CLOUD_GCP", undefined],
    ]);
  });

  // nats-server alone loses these: after a restart it finds nothing from aws in the stream and starts
  // aws's consumer at the stream's last message time (gcp's newer event), past aws 8 and 9.
  it("hub restart: resumes after the last event it got, where the server alone would skip some", {
    timeout: 90_000,
  }, async () => {
    await expired();
    await w.topo.leaves.aws!.restart();
    await w.publish("aws", 2);
    await w.publish("gcp", 1);
    await storedNow(9);
    await w.topo.hub.kill();
    const t0 = Date.now();
    await w.topo.hub.restart();
    await waitForLeafLinks(w.d.hub, ["aws", "gcp"], 5_000);
    const reports: SourceReport[] = [];
    // The watchdog's part: a check every 500 ms until both new aws events are in.
    await becomesTrue(
      async () => {
        if (stored.length >= 11) return true;
        reports.push(...(await nudgeStalledSources(w.nc.hub!, STREAM, { domain: "hub", memory }).catch(() => [])));
        return false;
      },
      { timeoutMs: t0 + 15_000 - Date.now(), intervalMs: 500 },
    );
    console.log(
      `hub restart with nothing from aws left in ${STREAM}: caught up ${Date.now() - t0} ms after the restart began`,
    );
    expect(reports.filter((r) => r.source === "CLOUD_AWS" && r.verdict === "nudged")[0]).toMatchObject({
      mark: 7,
      startSeq: 8,
    });
    await sleep(1500);
    expect(stored.slice(8)).toEqual(["gcp:2", "aws:8", "aws:9"]);
  });
});

describe("source identity", () => {
  it("names a source as the server does in Nats-Stream-Source", () => {
    expect(sourceHeaderId({ name: "EV_AWS", domain: "aws" })).toBe("EV_AWS:g9WCZGcR");
    expect(sourceHeaderId({ name: "EV_AWS", external: { api: "$JS.aws.API" } })).toBe("EV_AWS:g9WCZGcR");
    expect(sourceHeaderId({ name: "LOCAL" })).toBe("LOCAL");
    expect(parseSourceHeader("EV_AWS:g9WCZGcR 5 > > ev.a.aws")).toEqual({ id: "EV_AWS:g9WCZGcR", seq: 5 });
    expect(parseSourceHeader("garbage")).toBeUndefined();
    expect(sourceKey({ name: "X", domain: "gcp" })).toBe(sourceKey({ name: "X", external: { api: "$JS.gcp.API" } }));
  });
});
