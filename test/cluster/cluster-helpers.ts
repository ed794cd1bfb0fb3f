/** What the cluster tests share: files sent in a batch, the time each completed, the active orchestrator. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { type LeaseValue, ORCHESTRATOR_LEASE } from "../../orchestrator/lease.ts";
import { type FileRecord, readFileRecord } from "../../shared/manifest.ts";
import { healthz } from "../../shared/nats/monitoring.ts";
import { pollUntil } from "../../shared/retry.ts";
import { LEADER_BUCKET } from "../../shared/stream-names.ts";
import type { WorkerProcess } from "../../supervisor/worker-process.ts";
import type { TestPipeline } from "../helpers/pipeline.ts";
import { readBack, type SentFile, sendRandomFile } from "../helpers/pipeline-files.ts";

/** Sends `count` random files of `size` bytes, one after the other. */
export async function sendFiles(t: TestPipeline, prefix: string, count: number, size: number): Promise<SentFile[]> {
  const out: SentFile[] = [];
  for (let i = 0; i < count; i++) out.push(await sendRandomFile(t, `${prefix}-${i}.bin`, size));
  return out;
}

/** Polls the manifest every 100 ms and records when each file was first seen complete (or failed). */
export async function watchCompletions(
  t: TestPipeline,
  files: SentFile[],
  timeoutMs: number,
  onTick?: (done: Map<string, number>) => Promise<void>,
): Promise<Map<string, number>> {
  const done = new Map<string, number>();
  const records = new Map<string, FileRecord>();
  await pollUntil(
    `all ${files.length} files finished`,
    async () => {
      for (const f of files) {
        if (done.has(f.fileId)) continue;
        const r = await readFileRecord(t.kv, f.fileId).catch(() => undefined);
        if (r && (r.state === "complete" || r.state === "failed")) {
          done.set(f.fileId, Date.now());
          records.set(f.fileId, r);
        }
      }
      await onTick?.(done);
      return done.size === files.length || `${done.size} of ${files.length} finished`;
    },
    { timeoutMs, intervalMs: 100 },
  );
  for (const [id, r] of records) if (r.state !== "complete") throw new Error(`file ${id} failed: ${r.reason}`);
  return done;
}

/** Every file reads back byte for byte, from every cloud. */
export async function expectReadBack(t: TestPipeline, files: SentFile[]): Promise<void> {
  for (const f of files) {
    for (const cloud of t.pipeline.deployment.topology.clouds.map((c) => c.name)) {
      const got = await readBack(t, f.fileId, cloud);
      if (got !== f.sha256) throw new Error(`file ${f.fileId} from ${cloud}: sha256 ${got}, sent ${f.sha256}`);
    }
  }
}

/** The hub node (server name) that leads `stream`'s Raft group. */
export async function streamLeader(t: TestPipeline, stream: string): Promise<string> {
  const jsm = await jetstreamManager(t.nc, { domain: "hub" });
  const info = await jsm.streams.info(stream);
  const leader = info.cluster?.leader;
  if (!leader) throw new Error(`stream ${stream} has no leader`);
  return leader;
}

/** The orchestrator lease as stored, or undefined when nobody holds it. */
export async function leaseHolder(t: TestPipeline): Promise<LeaseValue | undefined> {
  const kv = await new Kvm(t.nc).open(LEADER_BUCKET);
  const e = await kv.get(ORCHESTRATOR_LEASE);
  return e?.operation === "PUT" ? e.json<LeaseValue>() : undefined;
}

/** The orchestrator worker process whose pid holds the lease. */
export async function activeOrchestrator(t: TestPipeline): Promise<{ name: string; worker: WorkerProcess }> {
  let found: { name: string; worker: WorkerProcess } | undefined;
  await pollUntil(
    "an orchestrator holds the lease",
    async () => {
      const holder = await leaseHolder(t);
      for (const [name, worker] of t.pipeline.workers) {
        if (name.startsWith("orchestrator") && holder && worker.pid === holder.pid) found = { name, worker };
      }
      return found !== undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  );
  return found as { name: string; worker: WorkerProcess };
}

/** The lines a worker logged (pino JSON), parsed; lines that are not JSON are skipped. */
export function workerLog(t: TestPipeline, name: string): Array<Record<string, unknown>> {
  const text = readFileSync(join(t.pipeline.deployment.dataDir, "logs", `${name}.log`), "utf8");
  return text.split("\n").flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/**
 * Waits until every hub node's /healthz says ok (JetStream enabled, its streams current) and every
 * hub stream has a leader: a node restarted a moment ago answers clients before its JetStream is back,
 * and a publish that reaches it then gets "jetstream is not enabled".
 */
export async function hubHealthy(t: TestPipeline, timeoutMs = 60_000): Promise<void> {
  const jsm = await jetstreamManager(t.nc, { domain: "hub" });
  await pollUntil(
    "every hub node healthy and every hub stream led",
    async () => {
      for (const node of t.pipeline.deployment.hubNodes) {
        const ok = await healthz(node.monitorPort, AbortSignal.timeout(2000)).catch((e: Error) => e.message);
        if (ok !== true) return `${node.name}: ${ok}`;
      }
      for await (const s of jsm.streams.list()) if (!s.cluster?.leader) return `${s.config.name} has no leader`;
      return true;
    },
    { timeoutMs, intervalMs: 250 },
  );
}
