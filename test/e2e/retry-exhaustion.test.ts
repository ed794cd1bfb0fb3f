/**
 * A retryable failure that never passes, on a real pipeline: the message is retried with backoff until
 * it has been delivered maxAttempts times, then it lands in the dead-letter stream with its reason and
 * the file is marked failed. The failure is real, not mocked: one staged chunk is swapped for a link to
 * /proc/self/mem, which opens as a regular file and fails every read with EIO. (A StoreUnavailableError
 * would wait forever by design; the fs store raises that for a failed open, so the open must succeed.)
 */
import { existsSync, readdirSync, readFileSync, symlinkSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { listDeadLetters } from "../../client/dead-letters.ts";
import { readChunkRecords, readFileRecord } from "../../shared/manifest.ts";
import { fsRoot } from "../../shared/topology/deployment.ts";
import { eventually } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { finished, sendRandomFile } from "../helpers/pipeline-files.ts";
import { skipBecause } from "../helpers/skip.ts";

const CLOUDS = ["aws", "gcp", "azure"];
const CHUNK = 64 * 1024; // the test pipeline's chunk size
const MAX_ATTEMPTS = 3;
let t: TestPipeline;

beforeAll(async () => {
  t = await startTestPipeline({ topology: { maxAttempts: MAX_ATTEMPTS } });
});
afterAll(async () => {
  await t?.stop();
});

/** The "will retry" lines the process workers logged for one chunk, by attempt. */
function retriesLogged(fileId: string, index: number): number[] {
  const logs = join(t.pipeline.deployment.dataDir, "logs");
  return readdirSync(logs)
    .filter((f) => f.startsWith("process-"))
    .flatMap((f) => readFileSync(join(logs, f), "utf8").split("\n"))
    .filter((l) => l.includes('"will retry"'))
    .map((l) => JSON.parse(l) as { fileId?: string; index?: number; attempt: number })
    .filter((l) => l.fileId === fileId && l.index === index)
    .map((l) => l.attempt)
    .sort();
}

it("dead-letters a chunk whose every read fails after maxAttempts deliveries, and fails its file", async (ctx) => {
  if (!existsSync("/proc/self/mem")) skipBecause(ctx, "needs /proc/self/mem (Linux) to make a read fail with EIO");
  // Hold processing back until the chunk is swapped.
  await Promise.all(CLOUDS.map((c) => t.pipeline.worker("process", c).stop()));
  const s = await sendRandomFile(t, "unreadable.bin", 3 * CHUNK);
  const ingested = async () => {
    const r = await readFileRecord(t.kv, s.fileId);
    return r?.chunkCount === 3 ? r : undefined;
  };
  const f = await eventually(ingested, 60_000, "the file ingested");
  const [, victim] = await readChunkRecords(t.kv, f);
  const staged = victim!.staging[0]!;
  const path = join(fsRoot(t.pipeline.deployment, staged.cloud), staged.key);
  unlinkSync(path);
  symlinkSync("/proc/self/mem", path);
  for (const c of CLOUDS) t.pipeline.worker("process", c).start();

  const failed = await finished(t, s.fileId, 60_000);
  expect(failed.state).toBe("failed");
  expect(failed.reason).toBe(`process on ${staged.cloud} (chunk 1): EIO: i/o error, read`);
  const letters = await listDeadLetters(t.hubJs);
  expect(letters).toHaveLength(1);
  expect(letters[0]).toMatchObject({
    stage: "process",
    cloud: staged.cloud,
    fileId: s.fileId,
    index: 1,
    subject: `chunks.ingested.${staged.cloud}`,
    deliveryCount: MAX_ATTEMPTS,
    reason: "EIO: i/o error, read",
  });
  expect(letters[0]?.error).toMatch(/^Error: EIO/);
  expect(JSON.parse(letters[0]?.payload ?? "{}")).toMatchObject({ fileId: s.fileId, index: 1, staging: staged });
  // Retried before it was given up on: once per delivery short of the last.
  expect(retriesLogged(s.fileId, 1)).toEqual([1, 2]);
  // The other chunks went all the way: only the unreadable one failed.
  const verified = async () => {
    const all = await readChunkRecords(t.kv, failed);
    return [0, 2].every((i) => all[i]?.replicas.filter((r) => r.verified).length === 3) ? all : undefined;
  };
  const chunks = await eventually(verified, 30_000, "chunks 0 and 2 verified on every cloud");
  expect(chunks[1]?.replicas).toEqual([]);
});
