/**
 * `replicas` below the number of clouds (2 of 3) on a real pipeline: every chunk gets exactly two
 * verified replicas on two distinct clouds (its own and the first other in topology order), the third
 * cloud's store holds none of it, and the file completes, readable from either cloud that holds it.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { listDeadLetters } from "../../client/dead-letters.ts";
import { readChunkRecords } from "../../shared/manifest.ts";
import { fsRoot } from "../../shared/topology/deployment.ts";
import { sha256 } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { finished, fsObjects, readBack, sendRandomFile, stagingCollected } from "../helpers/pipeline-files.ts";

const CLOUDS = ["aws", "gcp", "azure"];
const CHUNK = 64 * 1024; // the test pipeline's chunk size
let t: TestPipeline;

beforeAll(async () => {
  t = await startTestPipeline({ topology: { replicas: 2 } });
});
afterAll(async () => {
  await t?.stop();
});

it("gives every chunk exactly 2 verified replicas on distinct clouds and completes the file", async () => {
  // Three files, so that more than one cloud is likely to ingest (and so to be a chunk's own cloud).
  const sent = await Promise.all([0, 1, 2].map((i) => sendRandomFile(t, `r2-${i}.bin`, 5 * CHUNK + 100 * i + 1)));
  for (const s of sent) {
    const f = await finished(t, s.fileId);
    expect(f.state, f.reason).toBe("complete");
    expect(f).toMatchObject({ replicas: 2, sha256: s.sha256, chunkCount: 6, chunksComplete: 6 });
    const home = f.stagingClouds[0] as string;
    // Placement: the chunk's own cloud, then the first other cloud in topology order.
    const pair = [home, CLOUDS.find((c) => c !== home)];
    const chunks = await readChunkRecords(t.kv, f);
    expect(chunks).toHaveLength(6);
    for (const c of chunks) {
      // In the record replicas stand in the order their events arrived, so compare them as a set.
      expect(c.replicas.map((r) => r.cloud).sort()).toEqual([...pair].sort());
      expect(c.replicas.every((r) => r.verified)).toBe(true);
    }
    // The stores hold what the manifest says: two intact copies of each chunk, nothing in the third cloud.
    for (const cloud of CLOUDS) {
      const objects = fsObjects(t, cloud, `chunks/${s.fileId}/`);
      expect(objects.length, cloud).toBe(pair.includes(cloud) ? 6 : 0);
      for (const key of objects) {
        const bytes = readFileSync(join(fsRoot(t.pipeline.deployment, cloud), key));
        expect(sha256(bytes)).toBe(key.split("-").at(-1));
      }
      await stagingCollected(t, cloud, s.fileId);
    }
    for (const cloud of pair) expect(await readBack(t, s.fileId, cloud)).toBe(s.sha256);
    const third = CLOUDS.find((c) => !pair.includes(c)) as string;
    await expect(readBack(t, s.fileId, third)).rejects.toThrow(`has no verified replica on ${third}`);
  }
  expect(await listDeadLetters(t.hubJs)).toEqual([]);
});
