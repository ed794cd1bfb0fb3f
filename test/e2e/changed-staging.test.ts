/**
 * A chunk whose bytes change in staging after it was hashed, on a real pipeline: before `process`
 * re-reads it, and after `process` passed it but before `place` copies it. Either way the hash
 * catches it, the chunk is dead-lettered with the reason, the file fails, no replica of the changed
 * bytes exists in any store or is recorded verified, and a good file published alongside completes.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reassemble } from "../../client/reassemble.ts";
import { replicaPrefix, stagingKey } from "../../shared/chunk-keys.ts";
import { type ChunkRecord, chunkKey, readJson } from "../../shared/manifest.ts";
import type { Stage } from "../../shared/stages.ts";
import { EVENTS_STREAM } from "../../shared/stream-names.ts";
import { fsRoot } from "../../shared/topology/deployment.ts";
import { eventually, listFiles, sha256, sha256File } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { finished } from "../helpers/pipeline-files.ts";

const CLOUDS = ["aws", "gcp", "azure"];
const CHUNK = 64 * 1024;

let t: TestPipeline;

beforeAll(async () => {
  t = await startTestPipeline();
});
afterAll(async () => {
  await t?.stop();
});

/** How many events on `subject` the hub's EVENTS stream holds for the file. */
async function eventsOf(fileId: string, subject: string): Promise<number> {
  const jsm = await t.hubJs.jetstreamManager();
  const info = await jsm.streams.info(EVENTS_STREAM);
  let n = 0;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(EVENTS_STREAM, { seq }).catch(() => null);
    if (m?.subject === subject && m.json<{ fileId: string }>().fileId === fileId) n++;
  }
  return n;
}

/** Dead letters of the file, as (subject, reason). */
async function deadLettersOf(fileId: string): Promise<Array<{ subject: string; reason: string }>> {
  const jsm = await t.hubJs.jetstreamManager();
  const info = await jsm.streams.info(EVENTS_STREAM);
  const out: Array<{ subject: string; reason: string }> = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(EVENTS_STREAM, { seq }).catch(() => null);
    if (!m?.subject.startsWith("deadletter.")) continue;
    const l = m.json<{ fileId?: string; reason: string }>();
    if (l.fileId === fileId) out.push({ subject: m.subject, reason: l.reason });
  }
  return out;
}

/** Stops the given stage's workers in every cloud, runs `meanwhile`, then starts them again. */
async function withStageStopped(stage: Stage, meanwhile: () => Promise<void>): Promise<void> {
  const workers = CLOUDS.map((c) => t.pipeline.worker(stage, c));
  await Promise.all(workers.map((w) => w.stop()));
  try {
    await meanwhile();
  } finally {
    for (const w of workers) w.start();
  }
}

/** Every replica object in every store holds the bytes its content-derived key names. */
function expectEveryReplicaTrue(): void {
  for (const cloud of CLOUDS) {
    const root = fsRoot(t.pipeline.deployment, cloud);
    for (const o of listFiles(root).filter((p) => p.startsWith("chunks/"))) {
      expect(sha256File(join(root, o)), `${cloud}:${o}`).toBe(o.split("-").at(-1));
    }
  }
}

/** Stages a file and, while `stage` is stopped everywhere, changes chunk 1's staged bytes (same size). */
async function ingestAndChange(fileId: string, stage: Stage, waitFor: string): Promise<Buffer> {
  const path = join(t.dir, `${fileId}.bin`);
  const data = randomBytes(3 * CHUNK);
  writeFileSync(path, data);
  await withStageStopped(stage, async () => {
    t.nc.publish("files.ingest.aws", JSON.stringify({ fileId, path }));
    await eventually(async () => ((await eventsOf(fileId, waitFor)) === 3 ? true : undefined), 60_000, waitFor);
    const changed = Buffer.from(data.subarray(CHUNK, 2 * CHUNK));
    changed[100] = changed[100]! ^ 0xff;
    await t.stores.get("aws")!.put(stagingKey(fileId, 1), Readable.from([changed]), { overwrite: true });
  });
  return data;
}

/** The file failed on chunk 1 with `reason`; no store holds and no record says verified a replica of chunk 1. */
async function expectCaught(fileId: string, data: Buffer, reason: RegExp): Promise<void> {
  const f = await finished(t, fileId);
  expect(f.state).toBe("failed");
  expect(f.reason).toMatch(reason);
  const letters = await deadLettersOf(fileId);
  expect(letters.length).toBeGreaterThan(0);
  for (const l of letters) expect(l.reason).toMatch(reason);
  const chunk1 = await readJson<ChunkRecord>(t.kv, chunkKey(fileId, 1));
  expect(chunk1?.value.sha256 ?? sha256(data.subarray(CHUNK, 2 * CHUNK))).toBe(sha256(data.subarray(CHUNK, 2 * CHUNK)));
  expect((chunk1?.value.replicas ?? []).filter((r) => r.verified)).toEqual([]);
  for (const cloud of CLOUDS) {
    const objects = listFiles(join(fsRoot(t.pipeline.deployment, cloud), replicaPrefix(fileId)));
    expect(objects.filter((o) => o.startsWith("1-"))).toEqual([]);
  }
  expectEveryReplicaTrue();
}

/** A good file published alongside completes and reads back byte for byte. */
async function expectGoodFileCompletes(fileId: string, sha: string): Promise<void> {
  expect((await finished(t, fileId)).state).toBe("complete");
  const out = join(t.dir, `${fileId}.back`);
  await reassemble(t.kv, t.stores, fileId, out, { preference: CLOUDS });
  expect(sha256File(out)).toBe(sha);
}

function publishGoodFile(fileId: string): { sha: string } {
  const path = join(t.dir, `${fileId}.bin`);
  const data = randomBytes(2 * CHUNK + 17);
  writeFileSync(path, data);
  t.nc.publish("files.ingest.gcp", JSON.stringify({ fileId, path }));
  return { sha: sha256(data) };
}

describe("a chunk whose bytes change in staging", () => {
  it("is caught by process's hash before anything is placed", async () => {
    const good = publishGoodFile("staged-good-1");
    const data = await ingestAndChange("staged-changed-1", "process", "chunks.ingested.aws");
    await expectCaught("staged-changed-1", data, /staged chunk 1 of file staged-changed-1 is corrupt: expected sha256/);
    await expectGoodFileCompletes("staged-good-1", good.sha);
  });

  it("is caught by place's hash when it changes after process passed it", async () => {
    const good = publishGoodFile("staged-good-2");
    const data = await ingestAndChange("staged-changed-2", "place", "chunks.processed.aws");
    await expectCaught("staged-changed-2", data, /expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}/);
    await expectGoodFileCompletes("staged-good-2", good.sha);
  });
});
