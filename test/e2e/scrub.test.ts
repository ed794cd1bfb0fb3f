/**
 * Scrub and repair on a real pipeline of three fs-store clouds: replicas damaged at rest after they
 * were verified (a byte flipped, an object truncated, one deleted) are found by `ferry scrub`, by the
 * background scrub, and by `get` meeting one; each is written again from a good copy in another
 * cloud, and every replica then holds the chunk's bytes, as read straight from the stores' folders.
 */
import { createHash } from "node:crypto";
import { readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { listDeadLetters } from "../../client/dead-letters.ts";
import { connectPipeline, scrapeMetrics } from "../../observability/metrics-endpoint.ts";
import { type ChunkRecord, readChunkRecords } from "../../shared/manifest.ts";
import { latestScrubRecord } from "../../shared/scrub.ts";
import { fsRoot } from "../../shared/topology/deployment.ts";
import { cliOf } from "../../shared/topology/nats-identities.ts";
import { runCli } from "../helpers/cli.ts";
import { eventually } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { finished, sendRandomFile } from "../helpers/pipeline-files.ts";

const CHUNK = 64 * 1024; // the test pipeline's chunk size
const CLOUDS = ["aws", "gcp", "azure"];
let t: TestPipeline;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  // The background pass waits an hour, until a test moves `scrub-next` to now.
  t = await startTestPipeline({ topology: { scrubEvery: "1h", scrubRate: "100MB/s" } });
  const d = t.pipeline.deployment;
  env = { FERRY_HUB: d.hub.url, FERRY_NATS_HOME: cliOf(d).home, FERRY_TLS_CA: d.tls.caFile };
});
afterAll(async () => {
  await t?.stop();
});

const replicaPath = (c: ChunkRecord, cloud: string): string => {
  const r = c.replicas.find((x) => x.cloud === cloud);
  if (!r) throw new Error(`chunk ${c.index} has no ${cloud} replica`);
  return join(fsRoot(t.pipeline.deployment, cloud), r.key);
};
const sha256Of = (path: string): string | undefined => {
  try {
    return createHash("sha256").update(readFileSync(path)).digest("hex");
  } catch {
    return undefined;
  }
};
function flipByte(path: string): void {
  const bytes = readFileSync(path);
  bytes[7] = (bytes[7] ?? 0) ^ 0xff;
  writeFileSync(path, bytes);
}

/** A complete file of `chunks` chunks, and its chunk records. */
async function completeFile(name: string, chunks: number): Promise<ChunkRecord[]> {
  const s = await sendRandomFile(t, name, chunks * CHUNK);
  const f = await finished(t, s.fileId);
  expect(f.state, f.reason).toBe("complete");
  return readChunkRecords(t.kv, f);
}

/** Every replica of every chunk holds the chunk's bytes, read from the store's own folder. */
function expectAllGood(chunks: ChunkRecord[]): void {
  for (const c of chunks)
    for (const cloud of CLOUDS) expect(sha256Of(replicaPath(c, cloud)), `${cloud} chunk ${c.index}`).toBe(c.sha256);
}

it("ferry scrub finds a flipped byte, a truncated and a deleted replica, and writes each again", async () => {
  const chunks = await completeFile("scrubbed.bin", 4);
  const fileId = chunks[0]!.fileId;
  flipByte(replicaPath(chunks[0]!, "aws"));
  truncateSync(replicaPath(chunks[1]!, "gcp"), 100);
  rmSync(replicaPath(chunks[2]!, "azure"));
  const r = await runCli(["scrub", "--file", fileId, "--json", "--max-wait", "60s"], { env, timeoutMs: 90_000 });
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  const report = JSON.parse(r.stdout.trim());
  expect(report).toMatchObject({ replicas: 12, checked: 12, repairedCount: 3 });
  const repaired = report.repaired.map((x: { index: number; cloud: string }) => `${x.index}:${x.cloud}`).sort();
  expect(repaired).toEqual(["0:aws", "1:gcp", "2:azure"]);
  expectAllGood(chunks);
  // Every cloud's place workers saw every scrub event; none took one for a bad message.
  expect(await listDeadLetters(t.hubJs)).toEqual([]);
  // The findings are in every cloud's metrics too.
  const p = await connectPipeline(t.pipeline.deployment, "test-scrub");
  try {
    const metrics = await scrapeMetrics(p);
    for (const [cloud, finding] of [
      ["aws", "corrupt"],
      ["gcp", "corrupt"],
      ["azure", "missing"],
    ])
      expect(metrics).toMatch(
        new RegExp(`ferry_scrub_replicas_total\\{[^}]*cloud="${cloud}"[^}]*finding="${finding}"[^}]*\\} 1`),
      );
  } finally {
    await p.close();
  }
}, 150_000);

it("the background scrub repairs a replica nobody asked about", async () => {
  const chunks = await completeFile("background.bin", 2);
  rmSync(replicaPath(chunks[1]!, "aws"));
  await t.kv.put("scrub-next", JSON.stringify({ at: new Date().toISOString() }));
  const record = await eventually(
    async () => {
      const r = await latestScrubRecord(t.kv);
      return r?.by === "background" && r.finishedAt ? r : undefined;
    },
    60_000,
    "a background scrub pass to finish",
  );
  expect(record.repaired).toContainEqual({ fileId: chunks[0]!.fileId, index: 1, cloud: "aws" });
  expectAllGood(chunks);
}, 120_000);

it("get reads past a corrupt replica and has it written again", async () => {
  const chunks = await completeFile("got.bin", 2);
  const fileId = chunks[0]!.fileId;
  flipByte(replicaPath(chunks[0]!, "aws"));
  const out = join(t.dir, "got.out");
  const r = await runCli(["get", fileId, "-o", out], { env, timeoutMs: 60_000 });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toContain("the aws replica is unusable");
  expect(r.stderr).toContain("asked for the aws replica of chunk 0 to be checked and written again");
  await eventually(
    () => (sha256Of(replicaPath(chunks[0]!, "aws")) === chunks[0]!.sha256 ? true : undefined),
    30_000,
    "the aws replica to be written again",
  );
  expectAllGood(chunks);
}, 120_000);

it("keeps a chunk's bad replicas when no good copy is left anywhere, and says so in a dead letter", async () => {
  const chunks = await completeFile("all-bad.bin", 1);
  const c = chunks[0]!;
  for (const cloud of CLOUDS) flipByte(replicaPath(c, cloud));
  const damaged = CLOUDS.map((cloud) => sha256Of(replicaPath(c, cloud)));
  const r = await runCli(["scrub", "--file", c.fileId, "--json", "--max-wait", "20s"], { env, timeoutMs: 60_000 });
  expect(r.code, r.stdout).toBe(1);
  expect(JSON.parse(r.stdout.trim())).toMatchObject({ replicas: 3, finishedAt: null });
  await eventually(
    async () => ((await listDeadLetters(t.hubJs)).some((l) => l.fileId === c.fileId) ? true : undefined),
    60_000,
    "a dead letter for the chunk with no good copy",
  );
  // Nothing was deleted: the damaged bytes are all that is left, and they are still there.
  expect(CLOUDS.map((cloud) => sha256Of(replicaPath(c, cloud)))).toEqual(damaged);
}, 120_000);
