/**
 * A cloud's leaf nats-server SIGKILLed while a file is in flight through that cloud, then started
 * again on the same ports and store (what `ferry up` does for a server that died): the file
 * completes, reads back byte-identical from every cloud, nothing is dead-lettered and no staging
 * object stays behind. Once in the middle of ingest (another cloud may take the request over), and
 * once when the file's only copy of its pending work is the leaf's stream and consumers on disk.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { listDeadLetters } from "../../client/dead-letters.ts";
import { chunkListDigest } from "../../shared/chunk-digest.ts";
import { type FileRecord, readChunkRecords, readFileRecord } from "../../shared/manifest.ts";
import { leafLinks, waitForLeafLinks } from "../../shared/nats/monitoring.ts";
import { pollUntil } from "../../shared/retry.ts";
import { workStream } from "../../shared/stream-names.ts";
import { fsRoot } from "../../shared/topology/deployment.ts";
import { eventually, sha256 } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { finished, fsObjects, readBack, type SentFile, sendRandomFile } from "../helpers/pipeline-files.ts";

const CLOUDS = ["aws", "gcp", "azure"];
const CHUNK = 64 * 1024; // the test pipeline's chunk size
let t: TestPipeline;

beforeAll(async () => {
  // Writes at 512 KiB/s: a 64 KiB chunk takes ~125 ms to stage and to place, so the file is in flight for seconds.
  t = await startTestPipeline({ workerEnv: { FERRY_FS_THROTTLE_BPS: String(512 * 1024) } });
});
afterAll(async () => {
  await t?.stop();
});

/** Waits until the file's own cloud has staged a few chunks but not yet all of them, and returns that cloud. */
async function homeOnceInFlight(fileId: string): Promise<string> {
  return eventually(
    async () => {
      const f = await readFileRecord(t.kv, fileId);
      return f && f.chunksIngested >= 3 && f.chunkCount === undefined ? f.stagingClouds[0] : undefined;
    },
    60_000,
    "the file in flight",
  );
}

/** SIGKILLs a cloud's leaf, waits until the hub has lost it, and starts it again on the same config and store. */
async function killAndRestartLeaf(cloud: string): Promise<void> {
  const hub = t.pipeline.deployment.hub;
  const leaf = t.pipeline.nats.leaves[cloud]!;
  await leaf.kill();
  await pollUntil("the hub sees the leaf gone", async () => !(await leafLinks(hub, [cloud]))[cloud], {
    timeoutMs: 30_000,
  });
  await leaf.restart();
  await waitForLeafLinks(hub, [cloud], 30_000);
}

/** The file complete: identical from every cloud, one intact replica per chunk per store, no dead letter or staging. */
async function expectCompleteEverywhere(s: SentFile, chunks: number): Promise<void> {
  const f: FileRecord = await finished(t, s.fileId, 180_000);
  expect(f.state, f.reason).toBe("complete");
  expect(f).toMatchObject({ size: s.size, chunkCount: chunks, chunksComplete: chunks });
  // A leaf killed mid-ingest can make the ingest resume after its last staged chunk: then the file's
  // digest is its chunk-list digest (README, "Resuming an interrupted ingest").
  expect([s.sha256, chunkListDigest(await readChunkRecords(t.kv, f))]).toContain(f.sha256);
  for (const cloud of CLOUDS) expect(await readBack(t, s.fileId, cloud), cloud).toBe(s.sha256);
  expect(await listDeadLetters(t.hubJs)).toEqual([]);
  for (const cloud of CLOUDS) {
    const objects = fsObjects(t, cloud, `chunks/${s.fileId}/`);
    expect(objects.length, cloud).toBe(chunks);
    for (const key of objects) {
      expect(sha256(readFileSync(join(fsRoot(t.pipeline.deployment, cloud), key)))).toBe(key.split("-").at(-1));
    }
  }
  // A request taken again by another cloud while the leaf was down may stage chunks late; they are swept.
  await eventually(
    () => (CLOUDS.every((c) => fsObjects(t, c, `staging/${s.fileId}/`).length === 0) ? true : undefined),
    30_000,
    "staging empty in every cloud",
  );
}

it("completes a file whose cloud's leaf is SIGKILLed in the middle of ingest", { timeout: 240_000 }, async () => {
  const s = await sendRandomFile(t, "leaf-kill.bin", 24 * CHUNK + 11);
  const home = await homeOnceInFlight(s.fileId);
  await killAndRestartLeaf(home);
  await expectCompleteEverywhere(s, 25);
});

it("completes a file whose pending work was only in the killed leaf's stream", { timeout: 240_000 }, async () => {
  // Placement held back: once ingested, the file's next step waits in its cloud's leaf alone.
  await Promise.all(CLOUDS.map((c) => t.pipeline.worker("place", c).stop()));
  const s = await sendRandomFile(t, "leaf-kill-2.bin", 8 * CHUNK);
  const ingested = async () => {
    const f = await readFileRecord(t.kv, s.fileId);
    return f?.chunkCount === 8 ? (f.stagingClouds[0] as string) : undefined;
  };
  const home = await eventually(ingested, 60_000, "the file ingested");
  const jsm = await jetstreamManager(await t.leaf(home));
  const pendingPlacements = async () => (await jsm.consumers.info(workStream(home), "place")).num_pending;
  await pollUntil("8 chunks waiting for placement", async () => (await pendingPlacements()) === 8, {
    timeoutMs: 30_000,
  });
  await killAndRestartLeaf(home);
  // The leaf's stream and the place consumer's position came back from disk.
  await pollUntil("the place consumer back with its 8 chunks", async () => (await pendingPlacements()) === 8, {
    timeoutMs: 15_000,
  });
  for (const c of CLOUDS) t.pipeline.worker("place", c).start();
  await expectCompleteEverywhere(s, 8);
});
