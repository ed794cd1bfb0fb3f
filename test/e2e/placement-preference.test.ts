/**
 * Placement failover prefers healthy stores, on a real pipeline of five clouds and three replicas.
 * azure vanishes (its leaf frozen with SIGSTOP) while a file needs it: its replicas go to oci, and
 * the orchestrator counts azure as failing. azure returns. Then gcp vanishes while a file ingested
 * in oci needs it (first choices oci, aws, gcp): topology order would hand gcp's replicas to azure,
 * which answers again; the orchestrator hands them to ibm, which never failed.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { submitIngest } from "../../client/ingest.ts";
import { checkIngestFile } from "../../client/preflight.ts";
import { readChunkRecords } from "../../shared/manifest.ts";
import { cloudStream } from "../../shared/stream-names.ts";
import { eventually, writeRandomFile } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { finished, readBack, sendRandomFile } from "../helpers/pipeline-files.ts";

const CHUNK = 64 * 1024; // the test pipeline's chunk size
const DEADLINE_MS = 4000;
let t: TestPipeline;
const frozen = new Set<number>();

beforeAll(async () => {
  t = await startTestPipeline({
    topology: {
      clouds: ["aws", "gcp", "azure", "oci", "ibm"].map((name) => ({ name })),
      placementDeadline: `${DEADLINE_MS}ms`,
    },
  });
}, 180_000);
afterAll(async () => {
  for (const pid of frozen) process.kill(pid, "SIGCONT");
  await t?.stop();
});

function freeze(cloud: string): number {
  const pid = t.pipeline.nats.leaves[cloud]?.pid as number;
  process.kill(pid, "SIGSTOP");
  frozen.add(pid);
  return pid;
}

function thaw(pid: number): void {
  process.kill(pid, "SIGCONT");
  frozen.delete(pid);
}

/** Each chunk's clouds asked in failover, and the clouds holding its verified replicas. */
async function placement(fileId: string, timeoutMs: number) {
  const f = await finished(t, fileId, timeoutMs);
  expect(f.state, f.reason).toBe("complete");
  return (await readChunkRecords(t.kv, f)).map((c) => ({
    failovers: c.failovers?.map((x) => x.cloud),
    verified: c.replicas
      .filter((r) => r.verified)
      .map((r) => r.cloud)
      .sort(),
  }));
}

it("hands a vanished cloud's replicas to a cloud that never failed, not to one that failed minutes ago", async () => {
  const azure = freeze("azure");
  // Ingested in aws: first choices aws, gcp, azure; oci is next in topology order.
  const a = await sendRandomFile(t, "a.bin", 2 * CHUNK + 5);
  const wantA = { failovers: ["oci"], verified: ["aws", "gcp", "oci"] };
  expect(await placement(a.fileId, DEADLINE_MS + 60_000)).toEqual([wantA, wantA, wantA]);
  thaw(azure);
  const jsm = await jetstreamManager(t.nc, { domain: "azure" });
  await eventually(() => jsm.streams.info(cloudStream("azure")).catch(() => undefined), 30_000, "azure to answer");

  const gcp = freeze("gcp");
  const path = `${t.dir}/b.bin`;
  const sha256 = writeRandomFile(path, 2 * CHUNK + 7);
  const { fileId } = await submitIngest(t.hubJs, await checkIngestFile(path), { cloud: "oci" });
  // Topology order would pick azure, back and answering; it failed within the last 5 minutes.
  const wantB = { failovers: ["ibm"], verified: ["aws", "ibm", "oci"] };
  expect(await placement(fileId, DEADLINE_MS + 60_000)).toEqual([wantB, wantB, wantB]);
  expect(await readBack(t, fileId, "ibm")).toBe(sha256);
  thaw(gcp);
}, 240_000);
