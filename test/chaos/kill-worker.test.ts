/**
 * SIGKILL a stage worker in the middle of writing a chunk: the file must still complete, read back
 * identical, with exactly one intact replica per chunk in every store.
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { waitForFiles } from "../../client/ingest.ts";
import { reassemble } from "../../client/reassemble.ts";
import { readFileRecord } from "../../shared/manifest.ts";
import { fsRoot } from "../../shared/topology/deployment.ts";
import { eventually, listFiles, sha256, sha256File, writeRandomFile } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";

const MiB = 1024 * 1024;
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

const tmpFiles = (cloud: string): string[] => {
  try {
    return readdirSync(join(fsRoot(t.pipeline.deployment, cloud), ".tmp"));
  } catch {
    return [];
  }
};

it("completes a file identical after its place worker is SIGKILLed mid-chunk", async () => {
  const path = join(t.dir, "victim.bin");
  const sha = writeRandomFile(path, 4 * MiB + 17);
  await t.hubJs.publish("files.ingest", JSON.stringify({ fileId: "kill-place-1", path }), {
    msgID: "ingest:kill-place-1",
  });

  const home = await eventually(
    async () => (await readFileRecord(t.kv, "kill-place-1"))?.stagingClouds[0],
    30_000,
    "the ingesting cloud",
  );
  // Only the home cloud's place worker writes into another cloud's store: a temp file there is its
  // replica being written right now.
  const other = ["aws", "gcp", "azure"].find((c) => c !== home)!;
  const inFlight = await eventually(
    () => (tmpFiles(other).length > 0 ? tmpFiles(other) : undefined),
    60_000,
    "a replica write in progress",
  );
  const victim = t.pipeline.worker("place", home);
  await victim.kill();
  expect(inFlight.length).toBeGreaterThan(0);
  // The replica being written never shows under its final key: only whole, checked objects do.
  for (const key of listFiles(join(fsRoot(t.pipeline.deployment, other), "chunks"))) {
    const [, name] = key.split("/");
    expect(sha256(readFileSync(join(fsRoot(t.pipeline.deployment, other), "chunks", key)))).toBe(name!.split("-")[1]);
  }

  const files = await waitForFiles(t.kv, ["kill-place-1"], () => undefined, 90_000);
  const f = files.get("kill-place-1")!;
  expect(f.state).toBe("complete");
  expect(victim.starts).toBe(2);
  const out = join(t.dir, "victim.back");
  await reassemble(t.kv, t.stores, f.fileId, out, { preference: ["aws", "gcp", "azure"] });
  expect(sha256File(out)).toBe(sha);
  for (const cloud of ["aws", "gcp", "azure"]) {
    const root = join(fsRoot(t.pipeline.deployment, cloud), "chunks", f.fileId);
    const objects = listFiles(root);
    expect(objects.length).toBe(f.chunkCount);
    for (const name of objects) expect(sha256(readFileSync(join(root, name)))).toBe(name.split("-")[1]);
  }
  // The killed writer's temp file does not stay behind.
  await eventually(
    () => (["aws", "gcp", "azure"].every((c) => tmpFiles(c).length === 0) ? true : undefined),
    20_000,
    "temp files to be swept",
  );
});

it("completes a file identical after its ingest worker is SIGKILLed mid-file", async () => {
  const path = join(t.dir, "victim2.bin");
  const sha = writeRandomFile(path, 3 * MiB + 5);
  await t.hubJs.publish("files.ingest", JSON.stringify({ fileId: "kill-ingest-1", path }), {
    msgID: "ingest:kill-ingest-1",
  });
  const home = await eventually(
    async () => (await readFileRecord(t.kv, "kill-ingest-1"))?.stagingClouds[0],
    30_000,
    "the ingesting cloud",
  );
  await eventually(() => (tmpFiles(home!).length > 0 ? true : undefined), 30_000, "a staging write in progress");
  await t.pipeline.worker("ingest", home!).kill();
  const files = await waitForFiles(t.kv, ["kill-ingest-1"], () => undefined, 90_000);
  const f = files.get("kill-ingest-1")!;
  expect(f.state).toBe("complete");
  const out = join(t.dir, "victim2.back");
  await reassemble(t.kv, t.stores, f.fileId, out, { preference: ["gcp"] });
  expect(sha256File(out)).toBe(sha);
  for (const cloud of ["aws", "gcp", "azure"]) {
    expect(listFiles(join(fsRoot(t.pipeline.deployment, cloud), "chunks", f.fileId)).length).toBe(f.chunkCount);
    expect(listFiles(join(fsRoot(t.pipeline.deployment, cloud), "staging"))).toEqual([]);
  }
});
