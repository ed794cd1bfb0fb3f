/**
 * Placement failover on a real pipeline of four clouds and three replicas: one of a chunk's first
 * choices (gcp) vanishes (its leaf frozen with SIGSTOP, so its workers can neither take nor report
 * work). After the placement deadline the orchestrator hands each of its replicas to the fourth
 * cloud, and the file completes with three verified replicas on three other clouds, read back
 * byte-identical through the stores. When gcp returns, its place workers find the chunks' replicas
 * already verified elsewhere and copy nothing. With two clouds gone (gcp and oci) there is no cloud
 * left to fail over to: the file becomes durable on aws and azure, and completes by itself when
 * they return.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { listDeadLetters } from "../../client/dead-letters.ts";
import { readChunkRecords } from "../../shared/manifest.ts";
import { workStream } from "../../shared/stream-names.ts";
import { fsRoot } from "../../shared/topology/deployment.ts";
import { cliOf } from "../../shared/topology/nats-identities.ts";
import { runCli } from "../helpers/cli.ts";
import { eventually, sha256 } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { finished, fsObjects, readBack, sendRandomFile } from "../helpers/pipeline-files.ts";

const CHUNK = 64 * 1024; // the test pipeline's chunk size
const DEADLINE_MS = 4000;
let t: TestPipeline;
let frozen: number | undefined;
let failedOver = "";

beforeAll(async () => {
  t = await startTestPipeline({
    topology: {
      clouds: [{ name: "aws" }, { name: "gcp" }, { name: "azure" }, { name: "oci" }],
      placementDeadline: `${DEADLINE_MS}ms`,
    },
  });
});
afterAll(async () => {
  if (frozen) process.kill(frozen, "SIGCONT");
  await t?.stop();
});

it("hands a vanished cloud's replicas to the fourth cloud after the deadline, and the file completes", async () => {
  frozen = t.pipeline.nats.leaves.gcp?.pid as number;
  process.kill(frozen, "SIGSTOP");
  const started = Date.now();
  // Ingested in aws: its chunks' first choices are aws, gcp and azure (shared/placement.ts).
  const s = await sendRandomFile(t, "failover.bin", 4 * CHUNK + 99);
  failedOver = s.fileId;
  const f = await finished(t, s.fileId, DEADLINE_MS + 60_000);
  const tookMs = Date.now() - started;
  expect(f.state, f.reason).toBe("complete");
  expect(tookMs).toBeLessThan(DEADLINE_MS + 30_000);
  for (const c of await readChunkRecords(t.kv, f)) {
    const verified = c.replicas.filter((r) => r.verified).map((r) => r.cloud);
    expect(verified.sort(), `chunk ${c.index}`).toEqual(["aws", "azure", "oci"]);
    expect(c.failovers?.map((x) => x.cloud)).toEqual(["oci"]);
  }
  // Read back from each cloud that holds it, through the stores, and check oci's objects themselves.
  for (const cloud of ["aws", "azure", "oci"]) expect(await readBack(t, s.fileId, cloud)).toBe(s.sha256);
  const objects = fsObjects(t, "oci", `chunks/${s.fileId}/`);
  expect(objects).toHaveLength(5);
  for (const key of objects) {
    const bytes = readFileSync(join(fsRoot(t.pipeline.deployment, "oci"), key));
    expect(sha256(bytes)).toBe(key.split("-").at(-1));
  }
  expect(await listDeadLetters(t.hubJs)).toEqual([]);
  console.log(`failover: file complete ${tookMs} ms after the ingest (placement deadline ${DEADLINE_MS} ms)`);
}, 120_000);

it("copies nothing into the cloud that returns: the chunks have their replicas, and new files use it again", async () => {
  process.kill(frozen as number, "SIGCONT");
  frozen = undefined;
  const s = await sendRandomFile(t, "after-return.bin", 2 * CHUNK);
  const f = await finished(t, s.fileId, 60_000);
  expect(f.state, f.reason).toBe("complete");
  for (const c of await readChunkRecords(t.kv, f))
    expect(
      c.replicas
        .filter((r) => r.verified)
        .map((r) => r.cloud)
        .sort(),
    ).toEqual(["aws", "azure", "gcp"]);
  // Once gcp's place workers have taken every event they missed, none has made a copy.
  const jsm = await jetstreamManager(await t.leaf("gcp"));
  await eventually(
    async () => {
      const c = await jsm.consumers.info(workStream("gcp"), "place");
      return c.num_pending === 0 && c.num_ack_pending === 0 ? true : undefined;
    },
    30_000,
    "gcp's place workers to take every event they missed",
  );
  expect(fsObjects(t, "gcp", `chunks/${failedOver}/`)).toEqual([]);
}, 90_000);

it("makes a file durable on the clouds that answer when too few do, and completes it when they return", async () => {
  const gone = ["gcp", "oci"].map((c) => t.pipeline.nats.leaves[c]?.pid as number);
  for (const pid of gone) process.kill(pid, "SIGSTOP");
  try {
    const path = join(t.dir, "durable.bin");
    const bytes = randomBytes(3 * CHUNK + 7);
    writeFileSync(path, bytes);
    const d = t.pipeline.deployment;
    const env = { FERRY_HUB: d.hub.url, FERRY_NATS_HOME: cliOf(d).home, FERRY_TLS_CA: d.tls.caFile };
    // The user's view: `ingest --wait` returns once the file is as safe as the answering clouds allow.
    const r = await runCli(["ingest", path, "--wait", "--json"], { env, timeoutMs: 3 * DEADLINE_MS + 60_000 });
    expect(r.code, r.stderr).toBe(3);
    const line = JSON.parse(r.stdout.trim());
    expect(line).toMatchObject({ state: "durable", heldBy: ["aws", "azure"] });
    const status = await runCli(["status", line.fileId], { env });
    expect(status.stdout).toContain("durable on aws, azure, short of 3 replicas");
    for (const cloud of ["aws", "azure"]) expect(await readBack(t, line.fileId, cloud)).toBe(sha256(bytes));
    for (const pid of gone.splice(0)) process.kill(pid, "SIGCONT");
    const done = await finished(t, line.fileId, 90_000);
    expect(done.state, done.reason).toBe("complete");
    expect(done.heldBy).toBeUndefined();
    for (const c of await readChunkRecords(t.kv, done))
      expect(c.replicas.filter((x) => x.verified).length, `chunk ${c.index}`).toBeGreaterThanOrEqual(3);
  } finally {
    for (const pid of gone) process.kill(pid, "SIGCONT");
  }
}, 180_000);
