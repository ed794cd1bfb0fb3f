/**
 * An ingest worker SIGKILLed while it reads an `s3://` object by ranges (the link to the S3 server
 * slowed by toxiproxy): the redelivered request reads on from the first chunk not yet staged, and
 * the file completes and reads back identical.
 */

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { submitIngest } from "../../client/ingest.ts";
import { chunkListDigest } from "../../shared/chunk-digest.ts";
import { readChunkRecords } from "../../shared/manifest.ts";
import { LOCAL_S3_CREDENTIALS } from "../../shared/stores/s3/local-server.ts";
import { startLocalStoreServer } from "../../supervisor/local-stores.ts";
import { freePorts } from "../../supervisor/ports.ts";
import type { ServerProcess } from "../../supervisor/server-process.ts";
import { startToxiproxy, type Toxiproxy } from "../../supervisor/toxiproxy.ts";
import { sha256 } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { finished, readBack } from "../helpers/pipeline-files.ts";
import { logLines, waitForRecordedChunks } from "../helpers/worker-log.ts";

const CHUNK = 256 * 1024;
let t: TestPipeline;
let s3: ServerProcess;
let toxiproxy: Toxiproxy;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-resume-s3-"));
  const [s3Port, linkPort, apiPort] = await freePorts(3);
  s3 = await startLocalStoreServer("s3", { port: s3Port!, dataDir: join(dir, "s3"), buckets: ["ferry-resume"] });
  toxiproxy = await startToxiproxy({ apiPort: apiPort! });
  await toxiproxy.link("s3", linkPort!, `127.0.0.1:${s3Port}`);
  const credentials = {
    AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
  };
  Object.assign(process.env, credentials); // for this process's own writes to the aws store
  const aws = { name: "aws", store: { kind: "s3", bucket: "ferry-resume", endpoint: `http://127.0.0.1:${linkPort}` } };
  t = await startTestPipeline({
    topology: { clouds: [aws, { name: "gcp" }, { name: "azure" }], chunkSize: CHUNK },
    workerEnv: { ...credentials, FERRY_LOG_LEVEL: "debug" },
  });
}, 180_000);
afterAll(async () => {
  await t?.stop();
  await toxiproxy?.stop();
  await s3?.stop();
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it("resumes a SIGKILLed ingest of an s3:// object from its first unstaged chunk", { timeout: 180_000 }, async () => {
  const data = randomBytes(40 * CHUNK);
  await t.stores.get("aws")!.put("datasets/big.bin", Readable.from([data]), { overwrite: true });
  // Everything the S3 server sends crawls at 2 MiB/s: a chunk's ranged read takes about 1/8 s.
  await toxiproxy.addToxic("s3", { name: "slow", type: "bandwidth", stream: "downstream", attributes: { rate: 2048 } });
  const { fileId } = await submitIngest(t.hubJs, { url: "s3://ferry-resume/datasets/big.bin" }, { cloud: "aws" });
  const victim = t.pipeline.worker("ingest", "aws");
  const before = await waitForRecordedChunks(t, fileId, 10, 90_000);
  expect(before).toBeLessThan(30);
  const firstLife = victim.pid;
  await victim.kill();
  await toxiproxy.removeToxic("s3", "slow");

  const f = await finished(t, fileId, 120_000);
  expect(f.state, f.reason).toBe("complete");
  const [resumed] = logLines(victim.spec.logFile, fileId, "ingest resumed");
  expect(resumed, "an 'ingest resumed' log line").toBeDefined();
  const from = resumed!.fromChunk as number;
  expect(from).toBeGreaterThanOrEqual(before);
  const secondLife = logLines(victim.spec.logFile, fileId, "chunk staged")
    .filter((l) => l.pid !== firstLife)
    .map((l) => l.index as number);
  console.log(
    `resumed ingest (%s): killed with %d of %d chunks in the manifest; resumed at chunk %d; the restarted worker staged %d chunks`,
    "s3 object",
    before,
    f.chunkCount,
    from,
    secondLife.length,
  );
  expect(Math.min(...secondLife)).toBe(from);
  expect(secondLife.length).toBe(f.chunkCount! - from);
  expect(f.sha256).toBe(chunkListDigest(await readChunkRecords(t.kv, f)));
  for (const cloud of ["aws", "gcp", "azure"]) expect(await readBack(t, fileId, cloud)).toBe(sha256(data));
});
