/**
 * The scenario drills as a user runs them (`ferry chaos <scenario> --json`), in short forms: each on
 * its own private deployment with fs stores, 1 MiB chunks and two or three small seeded files. The
 * drill itself checks every invariant by reading every replica back from the stores; this test checks
 * that it ran the fault it names and that every invariant, its own targets included, held.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { runCli } from "../helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "ferry-fault-drills-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Report {
  scenario: string;
  seed: number;
  passed: boolean;
  files: number;
  figures: Record<string, number | string>;
  invariants: Array<{ name: string; violations: string[] }>;
}

async function drill(args: string[], topology: unknown): Promise<Report> {
  const path = join(dir, `${args[0]}.json`);
  writeFileSync(path, JSON.stringify(topology));
  const r = await runCli(["chaos", ...args, "--topology", path, "--stores", "fs", "--size", "2MiB", "--json"], {
    timeoutMs: 240_000,
  });
  const report = JSON.parse(r.stdout.trim() || "{}") as Report;
  const failed = report.invariants?.filter((i) => i.violations.length > 0) ?? [];
  expect(failed, r.stderr.slice(-3000)).toEqual([]);
  expect(r.code).toBe(0);
  expect(report.invariants.map((i) => i.name)).toContain("every file reads back byte-identical");
  return report;
}

it("lose-cloud: a fourth cloud takes the lost one's replicas, and nothing is lost when it returns", async () => {
  const clouds = ["aws", "gcp", "azure", "oci"].map((name) => ({ name }));
  const report = await drill(["lose-cloud", "--files", "3", "--cloud", "gcp", "--outage", "15s", "--seed", "7"], {
    clouds,
    replicas: 3,
  });
  expect(report.figures).toMatchObject({ cloud: "gcp", durableFiles: 0 });
  expect(report.figures.settledAfterLossMs).toBeLessThan(5000 + 30_000);
  console.log(`lose-cloud (4 clouds): ${JSON.stringify(report.figures)}`);
}, 300_000);

it("lose-cloud: with three clouds the files are durable on two, and complete once the third returns", async () => {
  const clouds = ["aws", "gcp", "azure"].map((name) => ({ name }));
  const report = await drill(["lose-cloud", "--files", "2", "--outage", "15s", "--seed", "11"], { clouds });
  expect(report.figures.durableFiles).toBe(2);
  expect(report.figures.completeAfterReturnMs).toBeLessThan(60_000);
  console.log(`lose-cloud (3 clouds): ${JSON.stringify(report.figures)}`);
}, 300_000);

it("bit-rot: every flipped, truncated or deleted replica is found and repaired by a scrub", async () => {
  const clouds = ["aws", "gcp", "azure"].map((name) => ({ name }));
  const report = await drill(["bit-rot", "--files", "3", "--seed", "5"], { clouds });
  expect(report.figures.rotted).toBeGreaterThan(0);
  expect(report.figures.repaired).toBe(report.figures.rotted);
  console.log(`bit-rot: ${JSON.stringify(report.figures)}`);
}, 300_000);
