/**
 * The hub as a 3-node nats-server cluster, on real servers: streams and the manifest at R3, one
 * orchestrator per node behind a lease, several workers per stage sharing a durable consumer.
 * Losing a hub node, the active orchestrator, or all but one worker of each stage loses no file.
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { connect as tlsConnect } from "node:tls";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../shared/retry.ts";
import { STAGES } from "../../shared/stages.ts";
import { EVENTS_STREAM, FILES_STREAM, MANIFEST_BUCKET, ORCHESTRATOR_CONSUMER } from "../../shared/stream-names.ts";
import { stageWorkerName } from "../../shared/topology/processes.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import {
  activeOrchestrator,
  expectReadBack,
  hubHealthy,
  leaseHolder,
  sendFiles,
  streamLeader,
  watchCompletions,
  workerLog,
} from "./cluster-helpers.ts";

const FILE_SIZE = 384 * 1024;

/** Who answers a TLS handshake on `port` trusting only `caFile`: its certificate's name, if it verifies. */
function tlsPeer(port: number, caFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca: readFileSync(caFile) }, () => {
      const name = s.authorized ? String(s.getPeerCertificate().subject.CN) : `not verified: ${s.authorizationError}`;
      s.destroy();
      resolve(name);
    });
    s.setTimeout(5000, () => s.destroy(new Error(`no TLS handshake on port ${port} within 5 s`)));
    s.on("error", reject);
  });
}

/** Generous: nats-server elects a new stream leader in a few seconds; the target is 10 s. */
const KILL_TO_COMPLETE_BOUND_MS = 30_000;
let t: TestPipeline;

beforeAll(async () => {
  t = await startTestPipeline({
    topology: {
      hub: { nodes: 3 },
      // Two workers per stage in one cloud: 19 Node processes already crowd two cores.
      clouds: [{ name: "aws", workers: 2 }, { name: "gcp" }, { name: "azure" }],
    },
    readyTimeoutMs: 120_000,
  });
}, 180_000);
afterAll(async () => {
  await t?.stop();
});

describe("a 3-node hub", () => {
  it("runs three hub nodes with the hub's streams and buckets at R3", async () => {
    expect(t.pipeline.nats.hubNodes.map((n) => n.endpoint.name)).toEqual(["hub-1", "hub-2", "hub-3"]);
    const jsm = await jetstreamManager(t.nc, { domain: "hub" });
    for (const stream of [FILES_STREAM, EVENTS_STREAM, `KV_${MANIFEST_BUCKET}`]) {
      const info = await jsm.streams.info(stream);
      expect(info.config.num_replicas, stream).toBe(3);
      expect(info.cluster?.replicas?.length, stream).toBe(2);
    }
  });

  it("routes the nodes to each other over TLS only", async () => {
    for (const node of t.pipeline.deployment.hubNodes) {
      // Every node has a route to each of the two others.
      await pollUntil(
        `${node.name} routed to both other nodes`,
        async () => {
          const res = await fetch(`http://127.0.0.1:${node.monitorPort}/routez`);
          const { routes } = (await res.json()) as { routes?: { remote_name?: string }[] };
          // Routes may be pooled (several per peer): count the peers.
          const peers = new Set((routes ?? []).map((r) => r.remote_name));
          return peers.size === 2 || `routed to ${[...peers].join(", ") || "none"}`;
        },
        { timeoutMs: 15_000 },
      );
      // Its route port speaks TLS from the first byte, with its own certificate from the deployment's CA.
      expect(await tlsPeer(node.clusterPort!, t.pipeline.deployment.tls.caFile)).toBe(node.name);
    }
  });

  it("finishes every file when the node leading EVENTS is SIGKILLed mid-run", { timeout: 240_000 }, async () => {
    const files = await sendFiles(t, "node-kill", 8, FILE_SIZE);
    const leader = await streamLeader(t, EVENTS_STREAM);
    const victim = t.pipeline.nats.hubNodes.find((n) => n.endpoint.name === leader);
    expect(victim, `a hub node named ${leader}`).toBeDefined();
    let killedAt = 0;
    const done = await watchCompletions(t, files, 180_000, async (d) => {
      if (killedAt === 0 && d.size >= 1) {
        killedAt = Date.now();
        await victim?.kill();
      }
    });
    expect(killedAt).toBeGreaterThan(0);
    const after = [...done.values()].filter((at) => at >= killedAt).sort((a, b) => a - b);
    expect(after.length, "files still in flight when the node was killed").toBeGreaterThan(0);
    const figure = (after[0] as number) - killedAt;
    process.stdout.write(`hub node ${leader} SIGKILLed -> next file complete: ${figure} ms\n`);
    expect(figure).toBeLessThan(KILL_TO_COMPLETE_BOUND_MS);
    await expectReadBack(t, files);
    // The node comes back (as `ferry up` would restart it) and rejoins, so the next tests have three.
    await victim?.restart();
    await hubHealthy(t);
  });

  it("hands over to a standby orchestrator when the active one is SIGKILLed", { timeout: 180_000 }, async () => {
    const active = await activeOrchestrator(t);
    const before = await leaseHolder(t);
    const files = await sendFiles(t, "orch-kill", 4, FILE_SIZE);
    const killedAt = Date.now();
    await active.worker.kill();
    let tookOverAt = 0;
    await pollUntil(
      "another orchestrator holds the lease",
      async () => {
        const h = await leaseHolder(t).catch(() => undefined);
        if (h && h.holder !== before?.holder) tookOverAt = Date.now();
        return tookOverAt > 0;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    process.stdout.write(
      `orchestrator ${active.name} SIGKILLed -> standby holds the lease: ${tookOverAt - killedAt} ms\n`,
    );
    expect(tookOverAt - killedAt).toBeLessThan(10_000);
    await watchCompletions(t, files, 120_000);
    await expectReadBack(t, files);
  });

  it("a frozen orchestrator that thaws after a takeover writes nothing", { timeout: 180_000 }, async () => {
    const frozen = await activeOrchestrator(t);
    const pid = frozen.worker.pid as number;
    const files = await sendFiles(t, "orch-freeze", 3, FILE_SIZE);
    process.kill(pid, "SIGSTOP");
    let manifestSeq = 0;
    try {
      // The frozen holder is alive but silent: the standby waits out the lease's TTL (what a dead host looks like).
      const frozenAt = Date.now();
      await pollUntil(
        "a standby takes the lease",
        async () => (await leaseHolder(t).catch(() => undefined))?.pid !== pid,
        { timeoutMs: 15_000, intervalMs: 100 },
      );
      const figure = Date.now() - frozenAt;
      process.stdout.write(`orchestrator ${frozen.name} SIGSTOPped -> standby holds the lease: ${figure} ms\n`);
      expect(figure).toBeLessThan(10_000);
      await watchCompletions(t, files, 120_000);
      await drained(t);
      manifestSeq = await manifestLastSeq(t);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    const thawedAt = Date.now();
    // It learns it lost the lease, stands down and exits; its supervisor starts it again as a standby.
    await pollUntil("the thawed orchestrator exits", async () => frozen.worker.pid !== pid, {
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    await sleep(1000);
    expect(await manifestLastSeq(t), "manifest writes after the thaw").toBe(manifestSeq);
    const lines = workerLog(t, frozen.name).filter((l) => l.pid === pid && (l.time as number) >= thawedAt - 50);
    expect(lines.some((l) => String(l.msg).startsWith("orchestrator lease lost"))).toBe(true);
    expect(lines.filter((l) => l.msg === "file complete")).toEqual([]);
    await expectReadBack(t, files);
  });

  it("finishes every file when all but one worker of each stage are killed", { timeout: 180_000 }, async () => {
    const files = await sendFiles(t, "workers", 4, FILE_SIZE);
    for (const stage of STAGES) {
      const second = t.pipeline.workers.get(stageWorkerName(stage, "aws", 1));
      expect(second, `${stage}-aws-2`).toBeDefined();
      await second?.stop(0); // SIGKILLed at once, and not started again
    }
    await watchCompletions(t, files, 120_000);
    await expectReadBack(t, files);
  });
});

/** The orchestrator's consumer has nothing waiting and nothing in hand. */
async function drained(tp: TestPipeline): Promise<void> {
  const jsm = await jetstreamManager(tp.nc, { domain: "hub" });
  await pollUntil(
    "the orchestrator consumer drained",
    async () => {
      const info = await jsm.consumers.info(EVENTS_STREAM, ORCHESTRATOR_CONSUMER);
      return (info.num_pending === 0 && info.num_ack_pending === 0) || `${info.num_pending} + ${info.num_ack_pending}`;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}

async function manifestLastSeq(tp: TestPipeline): Promise<number> {
  const jsm = await jetstreamManager(tp.nc, { domain: "hub" });
  return (await jsm.streams.info(`KV_${MANIFEST_BUCKET}`)).state.last_seq;
}
