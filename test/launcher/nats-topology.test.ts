import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type PubAck,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../shared/errors.ts";
import { natsAuthOptions } from "../../shared/nats/identity.ts";
import { leafLinks, waitForLeafLinks } from "../../shared/nats/monitoring.ts";
import { natsTlsOptions } from "../../shared/nats/tls-options.ts";
import { pollUntil } from "../../shared/retry.ts";
import { sourcedEventsPrefix } from "../../shared/subjects.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import type { Deployment } from "../../shared/topology/deployment.ts";
import { readDeployment, writeDeployment } from "../../shared/topology/deployment.ts";
import { writeServerConfigs } from "../../shared/topology/nats-config.ts";
import { adminOf } from "../../shared/topology/nats-identities.ts";
import { NatsServer, ServerStartError } from "../../supervisor/nats-server.ts";
import { type NatsTopology, startNatsTopology } from "../../supervisor/nats-topology.ts";
import { planDeployment } from "../../supervisor/plan.ts";
import { freePorts } from "../../supervisor/ports.ts";

// Real nats-server processes: the binary comes from $FERRY_NATS_SERVER or PATH, as in the product.

const CLOUDS = ["aws", "gcp", "azure"];
const streamOf = (cloud: string): string => `EV_${cloud.toUpperCase()}`;
const tempDirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ferry-nats-"));
  tempDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Polls a stream until it holds `want` messages. */
function streamHolds(what: string, timeoutMs: number, count: () => Promise<number>, want: number): Promise<void> {
  return pollUntil(
    `${what} holds ${want} messages`,
    async () => {
      const n = await count();
      return n === want || `${n} messages`;
    },
    { timeoutMs },
  );
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

describe("planDeployment and deployment.json", () => {
  it("resolves folders, picks distinct ports, honours pinned ones, round-trips", async () => {
    const dir = tempDir();
    const topology = compileTopology({
      clouds: [
        { name: "aws" },
        { name: "gcp", store: { kind: "fs", root: "custom/gcp" } },
        { name: "azure", store: { kind: "fs", root: "/srv/az" } },
      ],
    });
    const [pinned] = await freePorts(1);
    const d = await planDeployment(topology, join(dir, "x", ".."), { hubMonitor: pinned as number });
    expect(d.dataDir).toBe(dir);
    expect(d.hub.monitorPort).toBe(pinned);
    expect(d.hub.storeDir).toBe(join(dir, "nats", "hub"));
    expect(d.leaves.aws?.configFile).toBe(join(dir, "nats", "aws.conf"));
    expect(d.leaves.gcp?.url).toBe(`nats://127.0.0.1:${d.leaves.gcp?.port}`);
    expect(d.stores).toEqual({
      aws: { cloud: "aws", kind: "fs", root: join(dir, "stores", "aws") },
      gcp: { cloud: "gcp", kind: "fs", root: join(dir, "custom", "gcp") },
      azure: { cloud: "azure", kind: "fs", root: "/srv/az" },
    });
    expect(d.localStores).toEqual({});
    const ports = [
      d.hub.port,
      d.hub.leafPort,
      d.hub.monitorPort,
      ...Object.values(d.leaves).flatMap((l) => [l.port, l.monitorPort]),
    ];
    expect(new Set(ports).size).toBe(9);

    expect(() => readDeployment(dir)).toThrow(ConfigError);
    expect(() => readDeployment(dir)).toThrow(`no running deployment in ${dir}: start one with ./ferry up`);
    writeDeployment(d);
    expect(readDeployment(dir)).toEqual(d);
  });
});

describe("a 3-cloud NATS topology (real servers)", () => {
  let d: Deployment;
  let topo: NatsTopology | undefined;
  const conns: NatsConnection[] = [];
  const nc: Record<string, NatsConnection> = {};
  const jsm: Record<string, JetStreamManager> = {};
  const open = async (url: string): Promise<NatsConnection> => {
    const c = await connect({
      servers: url,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...natsAuthOptions(adminOf(d)),
      ...natsTlsOptions(),
    });
    conns.push(c);
    return c;
  };
  /** Publishes with a msgID, retrying: a publish issued while nats.js reconnects can time out unstored. */
  const publish = async (cloud: string, i: number): Promise<PubAck> => {
    let ack: PubAck | undefined;
    await pollUntil(
      `publish ${cloud}:${i}`,
      async () => {
        ack = await jetstream(nc[cloud]!).publish(`ev.test.${cloud}`, `${cloud} ${i}`, {
          msgID: `${cloud}:${i}`,
          timeout: 2000,
        });
        return true;
      },
      { timeoutMs: 15_000 },
    );
    return ack!;
  };
  const messages = async (server: string, stream: string): Promise<number> =>
    (await jsm[server]!.streams.info(stream)).state.messages;

  beforeAll(async () => {
    d = await planDeployment(compileTopology({ clouds: CLOUDS.map((name) => ({ name })) }), tempDir());
    topo = await startNatsTopology(d);
    for (const [name, ep] of [["hub", d.hub] as const, ...Object.entries(d.leaves)]) {
      nc[name] = await open(ep.url);
      // Short API timeout: a request issued while the client reconnects is dropped, so fail fast and retry.
      jsm[name] = await jetstreamManager(nc[name], { timeout: 2000 });
    }
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled(conns.map((c) => c.close()));
    await topo?.stop();
  }, 30_000);

  it("runs JetStream on every server in its own domain, leaves with fsync on every write", async () => {
    for (const ep of [d.hub, ...Object.values(d.leaves)]) {
      const varz = (await (await fetch(`http://127.0.0.1:${ep.monitorPort}/varz`)).json()) as {
        server_name: string;
        jetstream?: { config?: { domain?: string; sync_always?: boolean } };
      };
      expect(varz.server_name).toBe(ep.name);
      expect(varz.jetstream?.config?.domain).toBe(ep.domain);
      expect(varz.jetstream?.config?.sync_always).toBe(true);
    }
    expect(await leafLinks(d.hub, CLOUDS)).toEqual({ aws: true, gcp: true, azure: true });
  });

  it("sources every leaf stream into the hub and deduplicates by msgID", { timeout: 20_000 }, async () => {
    for (const cloud of CLOUDS) {
      await jsm[cloud]!.streams.add({
        name: streamOf(cloud),
        subjects: [`ev.*.${cloud}`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
      });
    }
    await jsm.hub!.streams.add({
      name: "EV",
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      // Delivered under the prefix each cloud's leaf link may carry (nats-permissions.ts), as EVENTS is.
      sources: CLOUDS.map((cloud) => ({
        name: streamOf(cloud),
        external: { api: `$JS.${cloud}.API`, deliver: sourcedEventsPrefix(cloud) },
      })),
    });

    for (const cloud of ["aws", "gcp"]) {
      for (let i = 0; i < 10; i++) {
        expect(await publish(cloud, i)).toMatchObject({
          stream: streamOf(cloud),
          domain: cloud,
          duplicate: false,
          seq: i + 1,
        });
      }
      expect(await publish(cloud, 0)).toMatchObject({ duplicate: true, seq: 1 });
    }
    await streamHolds("hub stream EV", 15_000, () => messages("hub", "EV"), 20);
  });

  it("keeps a leaf's stream across a leaf restart", { timeout: 20_000 }, async () => {
    await topo!.leaves.gcp!.restart();
    // The client is still reconnecting: its first requests may time out.
    await streamHolds("EV_GCP after restart", 10_000, () => messages("gcp", streamOf("gcp")), 10);
    const ack = await publish("gcp", 10);
    expect(ack.seq).toBe(11); // duplicate may be true if an ack was lost during the reconnect and the retry hit dedup
  });

  // nats-server 2.14.9: a restarted hub asks for its source consumers before the leaves have relinked,
  // waits 30 s for that answer and backs off 10 s, so sourcing resumes ~40 s after the restart.
  it("keeps acking on the leaves while the hub is SIGKILLed; the hub catches up after restart", {
    timeout: 60_000,
  }, async () => {
    const hub = topo!.hub;
    await hub.kill();
    expect(hub.isRunning).toBe(false);
    for (const cloud of ["aws", "gcp"]) {
      for (let i = 11; i < 15; i++) expect((await publish(cloud, i)).duplicate).toBe(false);
    }
    await hub.restart();
    expect(hub.isRunning).toBe(true);
    await waitForLeafLinks(d.hub, CLOUDS, 5_000);
    // 10 + 4 from aws, 11 + 4 from gcp.
    await streamHolds("hub stream EV after restart", 55_000, () => messages("hub", "EV"), 29);
  });

  it("stop() leaves no process behind and can be called twice", async () => {
    const servers = [topo!.hub, ...Object.values(topo!.leaves)];
    const pids = servers.map((s) => s.pid);
    expect(pids.every((p) => typeof p === "number")).toBe(true);
    await Promise.allSettled(conns.splice(0).map((c) => c.close()));
    await topo!.stop();
    await topo!.stop();
    for (const pid of pids) expect(() => process.kill(pid!, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }));
    expect(servers.every((s) => !s.isRunning)).toBe(true);
  });
});

describe("NatsServer start-up failures", () => {
  let d: Deployment;
  let blocker: Server | undefined;

  beforeAll(async () => {
    d = await planDeployment(compileTopology({ clouds: [{ name: "aws" }] }), tempDir());
    writeServerConfigs(d);
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    blocker = undefined;
  });

  it("reports the log tail and config path when the client port is taken", { timeout: 20_000 }, async () => {
    const ep = d.leaves.aws!;
    blocker = createServer();
    await new Promise<void>((resolve) => blocker!.listen(ep.port, "127.0.0.1", resolve));
    const logFile = join(d.dataDir, "logs", "aws.log");
    const err = await NatsServer.start(ep, { logFile }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ServerStartError);
    const message = (err as Error).message;
    expect(message).toContain(ep.configFile);
    expect(message).toContain(logFile);
    expect(message).toMatch(/address already in use/);
    expect(await portAnswers(ep.monitorPort)).toBe(false);
  });

  it("refuses to start when something already answers on the monitoring port", async () => {
    const ep = d.leaves.aws!;
    blocker = createServer();
    await new Promise<void>((resolve) => blocker!.listen(ep.monitorPort, "127.0.0.1", resolve));
    await expect(NatsServer.start(ep)).rejects.toThrow(`port 127.0.0.1:${ep.monitorPort} is already in use`);
  });

  it("kills a server that misses its readiness deadline", async () => {
    const err = await NatsServer.start(d.hub, { readyTimeoutMs: 1, logFile: join(d.dataDir, "logs", "hub.log") }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ServerStartError);
    expect((err as Error).message).toMatch(/"hub" ready: not true within 1 ms/);
    expect(await portAnswers(d.hub.monitorPort)).toBe(false);
    expect(await portAnswers(d.hub.port)).toBe(false);
  });

  it("names the fix when the binary cannot be run", async () => {
    await expect(NatsServer.start(d.hub, { binary: join(d.dataDir, "no-such-nats-server") })).rejects.toThrow(
      /FERRY_NATS_SERVER/,
    );
  });
});
