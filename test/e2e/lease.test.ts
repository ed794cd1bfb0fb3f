/**
 * The lease keep-alive on a real pipeline: with every fs store write slowed so that staging and placing
 * a chunk takes about twice ackWait, the workers' working() calls keep each message leased, so the
 * file completes with no message delivered twice (counted by the broker and by the workers' metrics).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { listDeadLetters } from "../../client/dead-letters.ts";
import { connectPipeline, scrapeMetrics } from "../../observability/metrics-endpoint.ts";
import { readChunkRecords } from "../../shared/manifest.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { consumerDeliveries, finished, readBack, sendRandomFile } from "../helpers/pipeline-files.ts";

const ACK_WAIT_MS = 3000;
const CHUNK = 192 * 1024;
/** 32 KiB/s: one chunk takes 6 s to write, twice the ack wait. */
const THROTTLE_BPS = 32 * 1024;
let t: TestPipeline;

beforeAll(async () => {
  t = await startTestPipeline({
    topology: { chunkSize: CHUNK, ackWait: `${ACK_WAIT_MS}ms` },
    workerEnv: { FERRY_FS_THROTTLE_BPS: String(THROTTLE_BPS) },
  });
});
afterAll(async () => {
  await t?.stop();
});

/** Sum of a metric's samples whose labels include `labels`, from Prometheus text. */
function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const has = Object.entries(labels).every(([k, v]) => m[2]?.includes(`${k}="${v}"`));
    if (has) sum += Number(m[3]);
  }
  return sum;
}

it("completes a chunk slower than ackWait with no redelivery", { timeout: 180_000 }, async () => {
  const s = await sendRandomFile(t, "slow.bin", CHUNK);
  const f = await finished(t, s.fileId, 150_000);
  expect(f.state, f.reason).toBe("complete");
  // The premise: staging the chunk (ingest) and writing its replicas (place) each outlasted ackWait.
  const [chunk] = await readChunkRecords(t.kv, f);
  expect(chunk?.stageMs.ingest).toBeGreaterThan(ACK_WAIT_MS * 1.5);
  expect(chunk?.stageMs.place).toBeGreaterThan(ACK_WAIT_MS * 1.5);

  // The broker delivered every message of every stage consumer exactly once.
  const deliveries = await consumerDeliveries(t);
  expect(deliveries.filter((d) => d.deliveries !== d.messages)).toEqual([]);
  const home = f.stagingClouds[0];
  const busy = deliveries.filter((d) => d.messages > 0).map((d) => [d.consumer, d.cloud, d.messages]);
  expect(busy.sort()).toEqual(
    [
      // A request naming no cloud goes to the default cloud's ingest consumer; each cloud places and verifies its replica.
      [`ingest-${home}`, home, 1],
      ["process", home, 1],
      ...["aws", "gcp", "azure"].flatMap((c) => [
        ["place", c, 1],
        ["verify", c, 1],
      ]),
    ].sort(),
  );
  // And the workers saw no delivery count above 1 and naked nothing (no worker restarted to reset them).
  expect([...t.pipeline.workers.values()].map((w) => w.starts)).toEqual([...t.pipeline.workers.values()].map(() => 1));
  const p = await connectPipeline(t.pipeline.deployment, "test-lease");
  try {
    const metrics = await scrapeMetrics(p);
    expect(metricSum(metrics, "ferry_stage_messages_total", { stage: "ingest", outcome: "ok" })).toBe(1);
    expect(metricSum(metrics, "ferry_stage_redeliveries_total")).toBe(0);
    expect(metricSum(metrics, "ferry_stage_messages_total", { outcome: "retry" })).toBe(0);
  } finally {
    await p.close();
  }
  expect(await listDeadLetters(t.hubJs)).toEqual([]);
  expect(await readBack(t, s.fileId)).toBe(s.sha256);
});
