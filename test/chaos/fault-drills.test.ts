/**
 * The scenario drills as a user runs them (`ferry chaos <scenario> --json`), in short forms: each on
 * its own private deployment with fs stores (slow-store: the S3, GCS and Azure servers, behind a
 * proxy), 1 MiB chunks and two or three small seeded files. The
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

async function drill(args: string[], topology: unknown, stores = "fs"): Promise<Report> {
  const path = join(dir, `${args[0]}.json`);
  writeFileSync(path, JSON.stringify(topology));
  const r = await runCli(["chaos", ...args, "--topology", path, "--stores", stores, "--size", "2MiB", "--json"], {
    timeoutMs: 240_000,
  });
  const report = JSON.parse(r.stdout.trim() || "{}") as Report;
  const failed = report.invariants?.filter((i) => i.violations.length > 0) ?? [];
  expect(failed, r.stderr.slice(-3000)).toEqual([]);
  expect(r.code, r.stderr.slice(-3000)).toBe(0);
  expect(report.invariants.map((i) => i.name)).toContain("every file reads back byte-identical");
  // A user's status and cat ran while the fault was on, and none crashed or hung (an invariant above).
  expect(report.invariants.map((i) => i.name)).toContain("status and cat rode out the fault (no crash, no hang)");
  expect(report.figures.commandsRun).toBeGreaterThan(0);
  return report;
}

it("bad drill options are refused before anything starts, naming the fix", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["slow-store", "--stores", "fs"], /fs stores have none \(leave out --stores fs\)/],
    [["partition", "--cut", "soon"], /--cut: "soon" is not a duration/],
    [["partition", "--cloud", "mars"], /"mars" is not a cloud of the topology/],
    [["lose-cloud", "--size", "1Q"], /--size: "1Q" is not a size/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(["chaos", ...args], { timeoutMs: 30_000 });
    expect(r.code, args.join(" ")).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/starting a private deployment/);
  }
});

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

it("partition: a leaf cut off longer than the duplicate window, then flapping, drains within 30 s of the heal", async () => {
  const clouds = ["aws", "gcp", "azure"].map((name) => ({ name }));
  const args = ["--files", "2", "--duplicate-window", "5s", "--cut", "22s", "--flap", "8s", "--seed", "3"];
  const report = await drill(["partition", ...args], { clouds });
  expect(report.figures.cutMs).toBeGreaterThan(5000);
  // The hub noticed the silent cut (by missed pings) while it lasted, and the link flapped.
  expect(report.figures.detectMs).toBeGreaterThan(0);
  expect(report.figures.detectMs).toBeLessThan(22_000);
  expect(report.figures.flaps).toBeGreaterThanOrEqual(2);
  expect(report.figures.drainAfterHealMs).toBeLessThan(30_000);
  console.log(`partition: ${JSON.stringify(report.figures)}`);
}, 300_000);

it("slow-store: latency, a bandwidth cap, stalls and resets on one store lose nothing, and it catches up once healed", async () => {
  const clouds = [
    { name: "aws", store: { kind: "s3", bucket: "ferry-aws", local: true } },
    { name: "gcp", store: { kind: "gcs", bucket: "ferry-gcp", local: true } },
    { name: "azure", store: { kind: "azblob", container: "ferry-azure", local: true } },
  ];
  const report = await drill(["slow-store", "--files", "2", "--phase", "4s", "--seed", "2"], { clouds }, "config");
  expect(String(report.figures.troubles).split(",").sort()).toEqual(["bandwidth", "latency", "resets", "timeouts"]);
  expect(report.files).toBe(8);
  expect(report.figures.completeAfterHealMs).toBeLessThan(60_000);
  console.log(`slow-store: ${JSON.stringify(report.figures)}`);
}, 300_000);

it("disk-full: an fs store's disk full to the last byte crashes nothing, and every file completes once space returns", async () => {
  const clouds = ["aws", "gcp", "azure"].map((name) => ({ name }));
  const args = ["--files", "2", "--disk", "store", "--disk-size", "64MiB", "--full-for", "8s", "--cloud", "aws"];
  const report = await drill(["disk-full", ...args, "--seed", "4"], { clouds });
  expect(report.figures).toMatchObject({ cloud: "aws", disk: "store", restarted: "none" });
  // The filler took the disk: what little the pipeline had written there left it most of 64 MiB.
  expect(report.figures.fillerBytes).toBeGreaterThan(48 * 1024 * 1024);
  expect(report.figures.completeAfterSpaceMs).toBeLessThan(30_000);
  console.log(`disk-full (store): ${JSON.stringify(report.figures)}`);
}, 300_000);

it("disk-full: a leaf whose JetStream disk fills is restarted by the supervisor and resumes once space returns", async () => {
  const clouds = ["aws", "gcp", "azure"].map((name) => ({ name }));
  const args = ["--files", "2", "--disk", "jetstream", "--disk-size", "64MiB", "--full-for", "8s", "--cloud", "gcp"];
  const report = await drill(["disk-full", ...args, "--seed", "4"], { clouds });
  // nats-server turns JetStream off on a full disk and leaves it off: only a restart brings it back.
  expect(report.figures).toMatchObject({ cloud: "gcp", disk: "jetstream", restarted: "gcp" });
  expect(report.figures.fillerBytes).toBeGreaterThan(48 * 1024 * 1024);
  expect(report.figures.completeAfterSpaceMs).toBeLessThan(30_000);
  console.log(`disk-full (jetstream): ${JSON.stringify(report.figures)}`);
}, 300_000);

it("mix: two faults at once on two clouds, round after round, then rot; nothing is lost", async () => {
  const clouds = ["aws", "gcp", "azure"].map((name) => ({ name }));
  const report = await drill(["mix", "--files", "2", "--rounds", "2", "--seed", "5"], { clouds });
  // Seed 5: a partition and a lost cloud at once, then a full disk and a lost cloud at once.
  expect(report.figures).toMatchObject({
    "round 1": "partition@azure+lose-cloud@gcp",
    "round 2": "disk-full@azure+lose-cloud@gcp",
  });
  expect(report.figures.repaired).toBe(report.figures.rotted);
  console.log(`mix: ${JSON.stringify(report.figures)}`);
}, 300_000);
