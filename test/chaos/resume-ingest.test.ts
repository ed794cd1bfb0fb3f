/**
 * An ingest worker SIGKILLed in the middle of a file of many chunks: the redelivered request goes on
 * from the first chunk the manifest does not show staged, not from byte 0, and the file completes
 * and reads back identical, with its chunk-list digest.
 */

import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { chunkListDigest } from "../../shared/chunk-digest.ts";
import { readChunkRecords, readFileRecord } from "../../shared/manifest.ts";
import { planChunks } from "../../shared/sources/chunk-plan.ts";
import { INGEST_REQUESTS } from "../../shared/subjects.ts";
import { eventually, sha256 } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { finished, readBack } from "../helpers/pipeline-files.ts";
import { logLines, waitForRecordedChunks } from "../helpers/worker-log.ts";

const KiB = 1024;
const CHUNK = 256 * KiB;
const CLOUDS = ["aws", "gcp", "azure"];
let t: TestPipeline;

beforeAll(async () => {
  // Store writes at 2 MiB/s: a 256 KiB chunk takes about 1/8 s, so a 40-chunk file takes seconds to stage.
  t = await startTestPipeline({
    topology: { chunkSize: "256KiB" },
    workerEnv: { FERRY_FS_THROTTLE_BPS: String(2 * 1024 * KiB), FERRY_LOG_LEVEL: "debug" },
  });
});
afterAll(async () => {
  await t?.stop();
});

/** About `size` bytes of JSON lines of random lengths, so chunks are cut after newlines, each in its own place. */
function jsonl(size: number): Buffer {
  const lines: string[] = [];
  let n = 0;
  for (let i = 0; n < size; i++) {
    const line = `${JSON.stringify({ i, pad: randomBytes(20 + (i % 300)).toString("hex") })}\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join(""));
}

/** The cuts a from-scratch plan makes of the file: what a resumed ingest must reproduce. */
async function freshPlan(path: string): Promise<Array<{ index: number; offset: number; size: number }>> {
  const fh = await open(path, "r");
  try {
    const out = [];
    for await (const s of planChunks(fh, (await fh.stat()).size, CHUNK, true)) out.push(s);
    return out;
  } finally {
    await fh.close();
  }
}

it("resumes a SIGKILLed ingest from its first unstaged chunk, not byte 0, and the file reads back identical", async () => {
  const fileId = "resume-ingest-1";
  const path = join(t.dir, `${fileId}.jsonl`);
  const data = jsonl(40 * CHUNK);
  writeFileSync(path, data);
  await t.hubJs.publish(INGEST_REQUESTS, JSON.stringify({ fileId, path }), { msgID: `ingest:${fileId}` });
  const home = await eventually(
    async () => (await readFileRecord(t.kv, fileId))?.stagingClouds[0],
    30_000,
    "the cloud ingesting the file",
  );
  const victim = t.pipeline.worker("ingest", home);
  // Kill once a quarter of the file is staged and announced, well before the end.
  const before = await waitForRecordedChunks(t, fileId, 10, 60_000);
  expect(before).toBeLessThan(30);
  const firstLife = victim.pid;
  await victim.kill();

  const f = await finished(t, fileId);
  expect(f.state, f.reason).toBe("complete");
  expect(victim.starts).toBe(2);

  // The second life staged only chunks at or after where the first one's announcements end.
  const staged = logLines(victim.spec.logFile, fileId, "chunk staged");
  const secondLife = staged.filter((l) => l.pid !== firstLife).map((l) => l.index as number);
  const [resumed] = logLines(victim.spec.logFile, fileId, "ingest resumed");
  expect(resumed, "an 'ingest resumed' log line").toBeDefined();
  const from = resumed!.fromChunk as number;
  expect(from).toBeGreaterThanOrEqual(before);
  console.log(
    `resumed ingest (%s): killed with %d of %d chunks in the manifest; resumed at chunk %d; the restarted worker staged %d chunks`,
    "local file",
    before,
    f.chunkCount,
    from,
    secondLife.length,
  );
  expect(Math.min(...secondLife)).toBe(from);
  expect(secondLife.length).toBe(f.chunkCount! - from);

  // The chunks are cut where a single pass would cut them, and the file's digest is the chunk-list digest.
  const chunks = await readChunkRecords(t.kv, f);
  expect(chunks.map(({ index, offset, size }) => ({ index, offset, size }))).toEqual(await freshPlan(path));
  expect(f.size).toBe(data.length);
  expect(f.sha256).toBe(chunkListDigest(chunks));
  for (const cloud of CLOUDS) expect(await readBack(t, fileId, cloud)).toBe(sha256(data));
});

it("fails a redelivered ingest clearly when the source changed since the interrupted read", async () => {
  const fileId = "resume-ingest-changed-1";
  const path = join(t.dir, `${fileId}.bin`);
  writeFileSync(path, randomBytes(40 * CHUNK));
  await t.hubJs.publish(INGEST_REQUESTS, JSON.stringify({ fileId, path }), { msgID: `ingest:${fileId}` });
  const home = await eventually(async () => (await readFileRecord(t.kv, fileId))?.stagingClouds[0], 30_000);
  const victim = t.pipeline.worker("ingest", home);
  await waitForRecordedChunks(t, fileId, 5, 60_000);
  await victim.kill();
  // Rewritten in place while no worker reads it: same size, other bytes.
  writeFileSync(path, randomBytes(40 * CHUNK));

  const f = await finished(t, fileId);
  expect(f.state).toBe("failed");
  expect(f.reason).toContain(`source ${path} changed since an interrupted ingest of it began`);
  expect(f.reason).toContain("ingest it again as a new file");
});
