/**
 * The kill-workers drill for real (hub, three leaves, 13 worker processes): SIGKILL up to 20 % of
 * the workers every ~1.5 s while three files are in flight, then every invariant must hold.
 * The second drill does the same on the local S3, GCS and Azure servers and kills those servers too.
 * FERRY_CHAOS_SEED replays another seed; on failure the deployment (logs under deploy/logs) is kept.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { runKillWorkersDrill } from "../../chaos/kill-workers.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import { isRunning } from "../../supervisor/proc.ts";
import { writeRandomFile } from "../helpers/files.ts";

const MiB = 1024 * 1024;
const CHUNK = 256 * 1024;
/** Every invariant the drill must have checked: a report that left one out would pass it unseen. */
const INVARIANTS = [
  "every file complete",
  "every file reads back byte-identical",
  "one intact replica per chunk in every store",
  "every staging area empty",
  "no dead letters",
  "pipeline drained (no stuck consumer)",
  "temp files of killed writers swept",
];
const dir = mkdtempSync(join(tmpdir(), "ferry-chaos-"));
/** Drills that passed; the folder (logs included) is kept unless both did. */
let passed = 0;

afterAll(() => {
  if (passed === 2) rmSync(dir, { recursive: true, force: true });
  else process.stderr.write(`kill-workers drill: kept ${dir}\n`);
});

it("loses nothing while random workers are SIGKILLed mid-chunk", async () => {
  // Sizes off the chunk grid, so every file has a short last chunk.
  const sizes = [0, 1, 2].map((i) => 3 * MiB + i * 4099 + 17);
  const files = sizes.map((size, i) => {
    const path = join(dir, `shard-${i}.bin`);
    writeRandomFile(path, size);
    return path;
  });
  const lines: string[] = [];
  const report = await runKillWorkersDrill({
    dataDir: join(dir, "deploy"),
    topology: compileTopology({
      clouds: [{ name: "aws" }, { name: "gcp" }, { name: "azure" }],
      chunkSize: "256KiB",
      ackWait: "5s",
      orphanAge: "3s",
    }),
    files,
    // 384 KiB/s: a 256 KiB chunk takes 0.7 s to write, a whole file 8 s to ingest.
    throttleBytesPerSec: 384 * 1024,
    intervalMs: 1500,
    durationMs: 25_000,
    drainTimeoutMs: 20_000,
    seed: Number(process.env.FERRY_CHAOS_SEED ?? 20261128),
    log: (l) => lines.push(l),
  });
  const context = `seed ${report.seed}, logs in ${report.logDir}\n${lines.join("\n")}`;
  process.stderr.write(
    `kill-workers drill: seed ${report.seed}, ${report.kills.length} kills in ${report.rounds} rounds, ${(report.chaosMs / 1000).toFixed(1)} s under fire, ${(report.wallMs / 1000).toFixed(1)} s in all\n`,
  );
  expect(
    report.invariants.filter((i) => i.violations.length > 0),
    context,
  ).toEqual([]);
  expect(report.invariants.map((i) => i.name)).toEqual(INVARIANTS);
  expect(report.passed).toBe(true);
  // Chunk counts from the sizes, not from the manifest the invariants read.
  expect(report.files.map((f) => [f.state, f.chunks])).toEqual(sizes.map((n) => ["complete", Math.ceil(n / CHUNK)]));
  // The faults really happened, and some landed where they hurt: on a writer with work in flight.
  expect(report.rounds, context).toBeGreaterThanOrEqual(3);
  expect(
    report.kills.some((k) => /^(place|ingest)-/.test(k.worker) && k.busy),
    context,
  ).toBe(true);
  expect(
    Object.entries(report.startsPerWorker).some(([name, starts]) => /^(place|ingest)-/.test(name) && starts > 1),
    context,
  ).toBe(true);
  // Hub, 3 leaves and 13 workers at least; none left running.
  expect(report.pids.length).toBeGreaterThanOrEqual(4 + 13);
  expect(report.pids.filter(isRunning)).toEqual([]);
  passed++;
}, 90_000);

it("loses nothing while workers and the S3, GCS and Azure servers are killed under it", async () => {
  const sizes = [0, 1].map((i) => 16 * MiB + i * 4099 + 17);
  const files = sizes.map((size, i) => {
    const path = join(dir, `real-${i}.bin`);
    writeRandomFile(path, size);
    return path;
  });
  const lines: string[] = [];
  const report = await runKillWorkersDrill({
    dataDir: join(dir, "deploy-real"),
    topology: compileTopology({
      clouds: [
        { name: "aws", store: { kind: "s3", bucket: "ferry-chaos-aws", local: true } },
        { name: "gcp", store: { kind: "gcs", bucket: "ferry-chaos-gcp", local: true } },
        { name: "azure", store: { kind: "azblob", container: "ferry-chaos-azure", local: true } },
      ],
      chunkSize: "256KiB",
      ackWait: "5s",
      orphanAge: "3s",
    }),
    files,
    killStores: true,
    intervalMs: 1000,
    durationMs: 25_000,
    drainTimeoutMs: 60_000,
    seed: Number(process.env.FERRY_CHAOS_SEED ?? 20261128),
    log: (l) => lines.push(l),
  });
  const context = `seed ${report.seed}, logs in ${report.logDir}\n${lines.join("\n")}`;
  process.stderr.write(
    `kill-workers drill (stores too): seed ${report.seed}, ${report.kills.length} kills in ${report.rounds} rounds\n`,
  );
  expect(
    report.invariants.filter((i) => i.violations.length > 0),
    context,
  ).toEqual([]);
  expect(report.invariants.map((i) => i.name)).toEqual(INVARIANTS);
  expect(report.passed).toBe(true);
  expect(report.files.map((f) => [f.state, f.chunks])).toEqual(sizes.map((n) => ["complete", Math.ceil(n / CHUNK)]));
  expect(
    report.kills.some((k) => k.worker.startsWith("store-")),
    context,
  ).toBe(true);
  expect(
    lines.some((l) => /store-\w+ restarted as pid/.test(l)),
    context,
  ).toBe(true);
  // Hub, 3 leaves, 3 store servers and 13 workers at least; none left running.
  expect(report.pids.length).toBeGreaterThanOrEqual(4 + 3 + 13);
  expect(report.pids.filter(isRunning)).toEqual([]);
  passed++;
}, 150_000);
