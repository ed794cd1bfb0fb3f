/**
 * Throughput benchmark: the pipeline against the plainest way to get the same bytes onto disk the
 * same number of times (a staging copy plus one per replica, each fsynced and hashed), run in
 * turn A B A B on one file so machine drift hits both alike. Prints medians and the ratio.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { submitIngest, waitForFiles } from "../client/ingest.ts";
import { checkIngestFile } from "../client/preflight.ts";
import { openManifest } from "../shared/manifest.ts";
import { connectNats } from "../shared/nats/connect.ts";
import { writeRandomFile } from "../shared/sample-data.ts";
import type { Topology } from "../shared/topology/config.ts";
import { hubUrls } from "../shared/topology/deployment.ts";
import { cliOf } from "../shared/topology/nats-identities.ts";
import { formatBytes } from "../shared/units.ts";
import { type Pipeline, startPipeline } from "../supervisor/pipeline.ts";
import { peakMemoryPerStage } from "../supervisor/proc.ts";

export interface BenchOptions {
  topology: Topology;
  sizeBytes: number;
  runs: number;
  log: (line: string) => void;
}

/** Runs the benchmark and returns the lines of its report. */
export async function benchPipelineVsCopy(options: BenchOptions): Promise<string[]> {
  const root = await mkdtemp(join(tmpdir(), "ferry-bench-"));
  let pipeline: Pipeline | undefined;
  try {
    const source = join(root, "shard.bin");
    await writeRandomFile(source, options.sizeBytes);
    const copies = 1 + Math.min(options.topology.replicas, options.topology.clouds.length);
    pipeline = await startPipeline({ topology: options.topology, dataDir: join(root, "deploy") });
    const nc = await connectNats(hubUrls(pipeline.deployment), "ferry-bench", cliOf(pipeline.deployment));
    const hubJs = jetstream(nc, { domain: options.topology.hubDomain });
    const kv = await openManifest(hubJs);
    const base: number[] = [];
    const ferry: number[] = [];
    for (let run = 1; run <= options.runs; run++) {
      const baseMs = await timed(() => copyAndHash(source, join(root, "copy"), copies));
      const ferryMs = await timed(async () => {
        const id = (await submitIngest(hubJs, await checkIngestFile(source))).fileId;
        const files = await waitForFiles(kv, [id], () => undefined, 30 * 60_000);
        if (files.get(id)?.state !== "complete") throw new Error(`benchmark file ${id} did not complete`);
      });
      base.push(baseMs);
      ferry.push(ferryMs);
      options.log(
        `run ${run}/${options.runs}: baseline ${(baseMs / 1000).toFixed(2)} s, ferry ${(ferryMs / 1000).toFixed(2)} s`,
      );
    }
    await nc.close();
    const ratios = ferry.map((f, i) => f / (base[i] ?? Number.NaN));
    const mbps = (ms: number) => (options.sizeBytes / 1e6 / (ms / 1000)).toFixed(1);
    return [
      `file ${formatBytes(options.sizeBytes)}, ${options.topology.clouds.length} clouds, ${copies - 1} replicas, chunks of ${formatBytes(options.topology.chunkSizeBytes)}, ${options.runs} runs each`,
      `baseline (${copies} fsynced copies + hashes): median ${(median(base) / 1000).toFixed(2)} s, ${mbps(median(base))} MB/s`,
      `ferry (ingest to complete):         median ${(median(ferry) / 1000).toFixed(2)} s, ${mbps(median(ferry))} MB/s`,
      `ratio ferry / baseline, run by run: median ${median(ratios).toFixed(2)} (min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)})`,
      `peak memory per worker: ${peakMemoryPerStage(pipeline.workers)}`,
    ];
  } finally {
    await pipeline?.stop();
    await rm(root, { recursive: true, force: true });
  }
}

/** The baseline: `copies` times, stream the file into a new file while hashing it, then fsync. */
async function copyAndHash(source: string, prefix: string, copies: number): Promise<void> {
  for (let i = 0; i < copies; i++) {
    const h = createHash("sha256");
    const fh = await open(`${prefix}-${i}`, "w");
    for await (const piece of createReadStream(source, { highWaterMark: 1024 * 1024 })) {
      h.update(piece as Buffer);
      await fh.write(piece as Buffer);
    }
    await fh.sync();
    await fh.close();
    h.digest();
    await rm(`${prefix}-${i}`);
  }
}

async function timed(f: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const at = (i: number): number => s[i] ?? Number.NaN;
  return s.length % 2 ? at(mid) : (at(mid - 1) + at(mid)) / 2;
};
