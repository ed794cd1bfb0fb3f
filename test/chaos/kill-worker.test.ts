/**
 * SIGKILL a stage worker in the middle of writing a chunk: the file must still complete, read back
 * identical, with exactly one intact replica per chunk in every store.
 */

import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { waitForFiles } from "../../client/ingest.ts";
import { reassemble } from "../../client/reassemble.ts";
import { chunkListDigest } from "../../shared/chunk-digest.ts";
import { type FileRecord, readChunkRecords, readFileRecord } from "../../shared/manifest.ts";
import { workStream } from "../../shared/stream-names.ts";
import { fsRoot } from "../../shared/topology/deployment.ts";
import type { WorkerProcess } from "../../supervisor/worker-process.ts";
import { chunkSummary, expectedChunks, replicaNames } from "../helpers/chunks.ts";
import { eventually, listFiles, sha256, sha256File } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";

const MiB = 1024 * 1024;
const ACK_WAIT_MS = 5000; // the test pipeline's
const CLOUDS = ["aws", "gcp", "azure"];
let t: TestPipeline;

beforeAll(async () => {
  // Slow every store write to 1 MiB/s so that a 1 MiB chunk takes about a second to write.
  // orphanAge 3s: the killed writer's temp file must be swept within the test.
  t = await startTestPipeline({
    topology: { chunkSize: "1MiB", orphanAge: "3s" },
    workerEnv: { FERRY_FS_THROTTLE_BPS: String(MiB) },
  });
});
afterAll(async () => {
  await t?.stop();
});

const tmpDir = (cloud: string): string => join(fsRoot(t.pipeline.deployment, cloud), ".tmp");
const tmpFiles = (cloud: string): string[] => {
  try {
    return readdirSync(tmpDir(cloud));
  } catch {
    return [];
  }
};

/** The temp file (`.part`) in `cloud`'s store that process `pid` has open right now, with its size. */
function writingNow(pid: number | undefined, cloud: string): { path: string; size: number } | undefined {
  if (pid === undefined) return undefined;
  let dir: string;
  try {
    dir = realpathSync(tmpDir(cloud));
  } catch {
    return undefined;
  }
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const path = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (path.startsWith(`${dir}/`) && path.endsWith(".part")) return { path, size: statSync(path).size };
    } catch {
      // closed (or the file linked into place) meanwhile
    }
  }
  return undefined;
}

/**
 * Waits until `victim` is early in writing a chunk into `cloud`'s store (under half of it written, so
 * half a second of writing is left), SIGKILLs it, and checks the write was cut: its temp file is
 * still there and short of a whole chunk, where a finished put would have linked it into place and
 * removed it. Returns the temp file's path.
 */
async function killMidWrite(victim: WorkerProcess, cloud: string): Promise<string> {
  const writing = await eventually(
    () => {
      const w = writingNow(victim.pid, cloud);
      return w && w.size < MiB / 2 ? w : undefined;
    },
    60_000,
    `${victim.spec.name} writing a chunk into ${cloud}'s store`,
  );
  await victim.kill();
  const left = statSync(writing.path, { throwIfNoEntry: false });
  expect(left, `${writing.path} after the kill`).toBeDefined();
  expect(left!.size).toBeLessThan(MiB);
  return writing.path;
}

/**
 * The file is complete, and what the manifest and every store hold is what its bytes imply: each
 * chunk with a verified replica in every cloud under its content key, and in every store exactly one
 * object per chunk whose bytes hash to its name.
 */
async function expectStoredWhole(f: FileRecord, data: Buffer, chunks: number): Promise<void> {
  const want = expectedChunks(f.fileId, data, MiB, CLOUDS);
  expect(want.length).toBe(chunks);
  expect(f).toMatchObject({ state: "complete", size: data.length, chunkCount: chunks });
  const records = await readChunkRecords(t.kv, f);
  expect(records.map(chunkSummary)).toEqual(want);
  // An ingest killed after a chunk was announced resumes there and records the chunk-list digest.
  expect([sha256(data), chunkListDigest(records)]).toContain(f.sha256);
  for (const cloud of CLOUDS) {
    const root = join(fsRoot(t.pipeline.deployment, cloud), "chunks", f.fileId);
    expect(listFiles(root), cloud).toEqual(replicaNames(want));
    for (const name of listFiles(root)) expect(sha256(readFileSync(join(root, name)))).toBe(name.split("-")[1]);
    expect(listFiles(join(fsRoot(t.pipeline.deployment, cloud), "staging"))).toEqual([]);
  }
  const out = join(t.dir, `${f.fileId}.back`);
  await reassemble(t.kv, t.stores, f.fileId, out, { preference: CLOUDS });
  expect(sha256File(out)).toBe(sha256(data));
}

/** Writes a file of random bytes, asks for it to be ingested, and returns its bytes and the cloud ingesting it. */
async function ingest(fileId: string, size: number): Promise<{ data: Buffer; home: string }> {
  const path = join(t.dir, `${fileId}.bin`);
  const data = randomBytes(size);
  writeFileSync(path, data);
  await t.hubJs.publish("files.ingest", JSON.stringify({ fileId, path }), { msgID: `ingest:${fileId}` });
  const home = await eventually(
    async () => (await readFileRecord(t.kv, fileId))?.stagingClouds[0],
    30_000,
    "the ingesting cloud",
  );
  return { data, home };
}

it("completes a file identical after its place worker is SIGKILLed mid-chunk", async () => {
  const { data, home } = await ingest("kill-place-1", 4 * MiB + 17);
  // Each cloud's place worker writes its own store; the one of a cloud other than home fetches across.
  const other = CLOUDS.find((c) => c !== home)!;
  const victim = t.pipeline.worker("place", other);
  const jsm = await jetstreamManager(await t.leaf(other));
  const redeliveredBefore = (await jsm.consumers.info(workStream(other), "place")).num_redelivered;
  const cut = await killMidWrite(victim, other);
  const killedAt = Date.now();
  // The killed worker's chunk is handed out again once its lease runs out: within ackWait + 1 s.
  while ((await jsm.consumers.info(workStream(other), "place")).num_redelivered <= redeliveredBefore) {
    if (Date.now() - killedAt > ACK_WAIT_MS + 10_000) throw new Error("the killed worker's chunk was not redelivered");
    await sleep(50);
  }
  const redeliveredMs = Date.now() - killedAt;
  console.log(`place worker killed: its chunk redelivered after ${redeliveredMs} ms (ackWait ${ACK_WAIT_MS} ms)`);
  expect(redeliveredMs).toBeLessThanOrEqual(ACK_WAIT_MS + 1000);

  const f = (await waitForFiles(t.kv, ["kill-place-1"], () => undefined, 90_000)).get("kill-place-1")!;
  expect(victim.starts).toBe(2);
  await expectStoredWhole(f, data, 5);
  // The killed writer's temp file does not stay behind.
  await eventually(
    () => (CLOUDS.every((c) => tmpFiles(c).length === 0) ? true : undefined),
    20_000,
    "temp files to be swept",
  );
  expect(statSync(cut, { throwIfNoEntry: false })).toBeUndefined();
});

it("completes a file identical after its ingest worker is SIGKILLed mid-file", async () => {
  const { data, home } = await ingest("kill-ingest-1", 3 * MiB + 5);
  const victim = t.pipeline.worker("ingest", home);
  await killMidWrite(victim, home);
  const f = (await waitForFiles(t.kv, ["kill-ingest-1"], () => undefined, 90_000)).get("kill-ingest-1")!;
  expect(victim.starts).toBe(2);
  await expectStoredWhole(f, data, 4);
});
