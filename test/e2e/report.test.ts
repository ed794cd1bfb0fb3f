/**
 * `ferry report` end to end, as a user runs it: `ferry up --detach` (fs stores), files ingested with
 * `ferry ingest`, one of them failing validation, then `ferry report --json` (window, --file, an empty
 * window) and the table without --json. Every figure is checked against what was ingested: chunks,
 * bytes, successes and failures per stage, rates and shares that add up, and the bottleneck present or
 * absent as the thresholds (25 / 35 / 50 %) say.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRunning } from "../../supervisor/proc.ts";
import { readRunState } from "../../supervisor/run-state.ts";
import { jsonLines, runCli } from "../helpers/cli.ts";
import { writeRandomFile } from "../helpers/files.ts";

const CHUNK = 64 * 1024;
const STAGES = ["ingest", "process", "place", "verify"] as const;
type Stage = (typeof STAGES)[number];

interface StageReport {
  stage: Stage;
  chunks: number;
  bytes: number;
  busyMs: number;
  spanMs: number;
  bytesPerSec: number;
  chunksPerSec: number;
  succeeded: number;
  failed: number;
  successRate: number | null;
  share: number;
}
interface Report {
  from: string | null;
  to: string | null;
  fileId?: string;
  events: number;
  stages: StageReport[];
  bottleneck?: { stage: Stage; share: number; severity: string };
}
interface IngestLine {
  fileId: string;
  size: number;
  chunkCount: number | null;
  state: string;
}
/** What a report must say per stage: [chunks, bytes, succeeded, failed]. */
type Expected = Record<Stage, [number, number, number, number]>;

let work: string;
let env: NodeJS.ProcessEnv;
let pids: number[] = [];
let good: IngestLine[] = [];
let bad: IngestLine;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "ferry-report-"));
  const topology = join(work, "topology.json");
  const clouds = ["aws", "gcp", "azure"].map((name) => ({ name, store: { kind: "fs" } }));
  writeFileSync(topology, JSON.stringify({ clouds, replicas: 3, chunkSize: CHUNK, ackWait: "5s", maxAttempts: 3 }));
  env = { FERRY_HOME: join(work, "home"), FERRY_TOPOLOGY: topology };
  const up = await runCli(["up", "--detach", "--port", "0"], { env });
  expect(up.code, up.stderr).toBe(0);
  const run = readRunState(join(work, "home"));
  pids = [run!.supervisorPid, ...Object.values(run!.pids)];

  writeRandomFile(join(work, "a.bin"), 3 * CHUNK + 5); // 4 chunks
  writeRandomFile(join(work, "b.bin"), 100_000); // 2 chunks
  const ok = await runCli(["ingest", join(work, "a.bin"), join(work, "b.bin"), "--wait", "--json"], { env });
  expect(ok.code, ok.stderr).toBe(0);
  good = jsonLines<IngestLine>(ok.stdout);
  // One chunk that process dead-letters: its second line is not JSON.
  writeFileSync(join(work, "bad.jsonl"), '{"ok":1}\nnot json\n{"ok":3}\n');
  const failed = await runCli(["ingest", join(work, "bad.jsonl"), "--validate", "jsonl", "--wait", "--json"], { env });
  expect(failed.code).toBe(1);
  [bad] = jsonLines<IngestLine>(failed.stdout) as [IngestLine];
}, 180_000);

afterAll(async () => {
  const down = await runCli(["down"], { env });
  const alive = pids.filter(isRunning);
  rmSync(work, { recursive: true, force: true });
  expect(down.code, down.stderr).toBe(0);
  expect(alive).toEqual([]);
});

/** A complete file's stage times in the manifest (per chunk the slowest replica, summed): ferry status --json. */
async function manifestStageMs(fileId: string): Promise<Record<Stage, number>> {
  const r = await runCli(["status", fileId, "--json"], { env });
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { stageMs: Record<Stage, number> }).stageMs;
}

const busy = (r: Report, stage: Stage): number | undefined => r.stages.find((s) => s.stage === stage)?.busyMs;

async function report(...args: string[]): Promise<Report> {
  const r = await runCli(["report", "--json", ...args], { env });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

/** The bottleneck the README's thresholds give for these shares: the largest, if above 25 %. */
function bottleneckFor(stages: StageReport[]): Report["bottleneck"] {
  const top = [...stages].sort((a, b) => b.share - a.share)[0] as StageReport;
  const severity = top.share > 0.5 ? "severe" : top.share > 0.35 ? "moderate" : top.share > 0.25 ? "minor" : undefined;
  return severity ? { stage: top.stage, share: top.share, severity } : undefined;
}

/** Checks the figures that follow from `want`, and that rates, shares and the bottleneck agree with each other. */
function expectReport(r: Report, want: Expected, events: number): void {
  expect(r.events).toBe(events);
  expect(r.stages.map((s) => s.stage)).toEqual([...STAGES]);
  const total = r.stages.reduce((t, s) => t + s.busyMs, 0);
  for (const s of r.stages) {
    const [chunks, bytes, succeeded, failed] = want[s.stage];
    expect({ stage: s.stage, chunks: s.chunks, bytes: s.bytes, succeeded: s.succeeded, failed: s.failed }).toEqual({
      stage: s.stage,
      chunks,
      bytes,
      succeeded,
      failed,
    });
    expect(s.successRate).toBe(succeeded + failed === 0 ? null : succeeded / (succeeded + failed));
    expect(s.share).toBeCloseTo(total > 0 ? s.busyMs / total : 0, 9);
    expect(s.bytesPerSec).toBeCloseTo(s.spanMs > 0 ? bytes / (s.spanMs / 1000) : 0, 6);
    expect(s.chunksPerSec).toBeCloseTo(s.spanMs > 0 ? chunks / (s.spanMs / 1000) : 0, 9);
    if (chunks > 0) expect(s.spanMs).toBeGreaterThanOrEqual(0);
  }
  if (total > 0) expect(r.stages.reduce((t, s) => t + s.share, 0)).toBeCloseTo(1, 9);
  expect(r.bottleneck).toEqual(bottleneckFor(r.stages));
  if (events > 0) expect(Date.parse(r.from ?? "") <= Date.parse(r.to ?? "")).toBe(true);
}

describe("ferry report --json", () => {
  it("counts every chunk, byte, success and failure of the last hour per stage", async () => {
    const goodBytes = good.reduce((t, f) => t + f.size, 0);
    const goodChunks = good.reduce((t, f) => t + (f.chunkCount ?? 0), 0);
    expect([goodChunks, bad.state]).toEqual([6, "failed"]);
    const r = await report();
    // Per chunk one ingest and one process event, and one place and one verify event per replica (3).
    expectReport(
      r,
      {
        ingest: [goodChunks + 1, goodBytes + bad.size, goodChunks + 1, 0],
        process: [goodChunks, goodBytes, goodChunks, 1],
        place: [goodChunks, goodBytes, 3 * goodChunks, 0],
        verify: [goodChunks, goodBytes, 3 * goodChunks, 0],
      },
      goodChunks + 1 + goodChunks + 1 + 6 * goodChunks,
    );
    expect(r.fileId).toBeUndefined();
    expect(r.stages.find((s) => s.stage === "process")?.successRate).toBeCloseTo(6 / 7, 9);
    // Work time adds up as in the manifest: the complete files' stage times (ingest also timed the failed chunk).
    const [a, b] = await Promise.all(good.map((f) => manifestStageMs(f.fileId)));
    for (const stage of ["process", "place", "verify"] as const) expect(busy(r, stage)).toBe(a![stage] + b![stage]);
    expect(busy(r, "ingest")).toBeGreaterThanOrEqual(a!.ingest + b!.ingest);
  });

  it("covers one file with --file", async () => {
    const a = good.find((f) => f.chunkCount === 4) as IngestLine;
    const r = await report("--file", a.fileId);
    expect(r.fileId).toBe(a.fileId);
    expectReport(
      r,
      { ingest: [4, a.size, 4, 0], process: [4, a.size, 4, 0], place: [4, a.size, 12, 0], verify: [4, a.size, 12, 0] },
      32,
    );
    const stageMs = await manifestStageMs(a.fileId);
    expect(Object.fromEntries(r.stages.map((s) => [s.stage, s.busyMs]))).toEqual(stageMs);
  });

  it("flags ingest as a severe bottleneck for a file whose only chunk failed after it", async () => {
    const r = await report("--file", bad.fileId);
    expectReport(
      r,
      { ingest: [1, bad.size, 1, 0], process: [0, 0, 0, 1], place: [0, 0, 0, 0], verify: [0, 0, 0, 0] },
      2,
    );
    expect(r.stages.find((s) => s.stage === "process")?.successRate).toBe(0);
    // Staging the chunk (an fsynced write) took time; no other stage timed any work for this file.
    expect(busy(r, "ingest")).toBeGreaterThan(0);
    expect(r.bottleneck).toEqual({ stage: "ingest", share: 1, severity: "severe" });
  });

  it("reports no work and no bottleneck for a window with no events", async () => {
    const r = await report("--since", "1ms");
    expectReport(r, { ingest: [0, 0, 0, 0], process: [0, 0, 0, 0], place: [0, 0, 0, 0], verify: [0, 0, 0, 0] }, 0);
    expect([r.from, r.to, r.bottleneck]).toEqual([null, null, undefined]);
  });
});

describe("ferry report (table)", () => {
  it("prints the same figures as --json, one row per stage, and the bottleneck line", async () => {
    const json = await report();
    const r = await runCli(["report"], { env });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe(`stage report for the last 1h: ${json.events} events from ${json.from} to ${json.to}`);
    for (const s of json.stages) {
      const row = lines.find((l) => l.startsWith(`${s.stage} `)) ?? "";
      const pct = s.successRate === null ? "-" : `${(s.successRate * 100).toFixed(1)} %`;
      expect(row.split(/\s{2,}/)[1]?.trim()).toBe(String(s.chunks));
      expect(row).toContain(`${pct}${s.failed ? ` (${s.failed} failed)` : ""}`);
      expect(row).toContain(`${(s.share * 100).toFixed(1)} %`);
      expect(row.endsWith(`${(s.busyMs / 1000).toFixed(2)} s`)).toBe(true);
    }
    const b = json.bottleneck;
    expect(lines).toContain(
      b
        ? `bottleneck: ${b.stage} takes ${(b.share * 100).toFixed(1)} % of pipeline time ` +
            `(${b.severity}; minor > 25 %, moderate > 35 %, severe > 50 %)`
        : "no bottleneck: no stage takes more than 25 % of pipeline time",
    );
    expect(lines.find((l) => l.startsWith("process "))).toContain("85.7 % (1 failed)");
  });

  it("says there was no work in an empty window", async () => {
    const r = await runCli(["report", "--since", "1ms"], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^no stage work recorded in the last 1ms: ingest a file/);
  });
});
