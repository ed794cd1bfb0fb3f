import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { submitIngest, waitForFiles } from "../../client/ingest.ts";
import { checkIngestFile } from "../../client/preflight.ts";
import { reassemble } from "../../client/reassemble.ts";
import { hashStream } from "../../shared/hashing.ts";
import { emptyStageTimes, type FileRecord, openManifest, readChunkRecords } from "../../shared/manifest.ts";
import { connectNats } from "../../shared/nats/connect.ts";
import { generateDemoData } from "../../shared/sample-data.ts";
import { STAGES } from "../../shared/stages.ts";
import { openStores } from "../../shared/stores/open-store.ts";
import { applyStoresOption, loadTopology, STORES_OPTION_HELP } from "../../shared/topology/config.ts";
import { hubUrls } from "../../shared/topology/deployment.ts";
import { cliOf } from "../../shared/topology/nats-identities.ts";
import { formatBytes, parseSize } from "../../shared/units.ts";
import { type Pipeline, startPipeline } from "../../supervisor/pipeline.ts";
import { peakMemoryPerStage } from "../../supervisor/proc.ts";
import { parseCommand } from "../args.ts";
import { resolveTopologyPath } from "../home.ts";
import { LiveBlock, progressLine } from "../progress.ts";

export const DEMO_HELP = `Usage: ferry demo [--big-file <size>] [--keep]

Starts a private local deployment (free ports, a temporary folder), generates a sample dataset
(a 256 MiB binary shard, a JSONL corpus, a CSV table, a tiny and an empty file), ingests it,
waits until every file has all its replicas verified, prints a summary, reads every file back
and checks it byte for byte, then stops everything it started.

Options:
  --big-file <size>   size of the large shard (default 256MiB)
  --keep              keep the temporary folder (data, stores, logs) afterwards
  --topology <file>   the topology config (default: FERRY_TOPOLOGY or topology.json)
  ${STORES_OPTION_HELP}`;

/** `ferry demo`: the whole pipeline, end to end, on generated data. */
export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(
    argv,
    {
      "big-file": { type: "string" },
      keep: { type: "boolean" },
      topology: { type: "string" },
      stores: { type: "string" },
    },
    false,
  );
  if (values.help) {
    process.stdout.write(`${DEMO_HELP}\n`);
    return 0;
  }
  const bigSize = parseSize("--big-file", values["big-file"] ?? "256MiB");
  const topology = applyStoresOption(loadTopology(resolveTopologyPath(values.topology)), values.stores);
  const root = await mkdtemp(join(tmpdir(), "ferry-demo-"));
  const say = (s: string) => process.stderr.write(`${s}\n`);
  let pipeline: Pipeline | undefined;
  let ok = false;
  try {
    await mkdir(join(root, "data"));
    await mkdir(join(root, "out"));
    say(`generating the sample dataset in ${join(root, "data")}…`);
    const paths = await generateDemoData(join(root, "data"), bigSize);
    say("starting a local deployment (hub, leaves, workers)…");
    pipeline = await startPipeline({ topology, dataDir: join(root, "deploy") });
    ok = await runDemo(pipeline, paths, join(root, "out"));
    return ok ? 0 : 1;
  } finally {
    await pipeline?.stop();
    if (ok && !values.keep) await rm(root, { recursive: true, force: true });
    else say(`demo files kept in ${root}`);
  }
}

async function runDemo(p: Pipeline, paths: string[], outDir: string): Promise<boolean> {
  const nc = await connectNats(hubUrls(p.deployment), "ferry-demo", cliOf(p.deployment));
  const stores = openStores(p.deployment);
  try {
    const hubJs = jetstream(nc, { domain: p.deployment.topology.hubDomain });
    const kv = await openManifest(hubJs);
    const started = Date.now();
    const submitted: Array<{ path: string; name: string; fileId: string }> = [];
    for (const path of paths) {
      const { fileId } = await submitIngest(hubJs, await checkIngestFile(path));
      submitted.push({ path, name: basename(path), fileId });
    }
    const live = process.stderr.isTTY ? new LiveBlock(process.stderr) : undefined;
    const files = await waitForFiles(
      kv,
      submitted.map((s) => s.fileId),
      (l) => live?.render(submitted.map((s) => progressLine(s.name, l.get(s.fileId)))),
      30 * 60_000,
    );
    const seconds = (Date.now() - started) / 1000;
    const records = submitted.flatMap((s) => {
      const record = files.get(s.fileId);
      return record ? [{ ...s, record }] : [];
    });
    let replicas = 0;
    for (const { record } of records)
      for (const c of await readChunkRecords(kv, record)) replicas += c.replicas.filter((r) => r.verified).length;
    process.stdout.write(
      summary(
        records.map((r) => r.record),
        replicas,
        seconds,
      ),
    );
    process.stdout.write(`peak memory per worker: ${peakMemoryPerStage(p.workers)}\n`);
    let good = records.length === submitted.length && records.every((r) => r.record.state === "complete");
    for (const { path, name, record } of records) {
      const back = await reassemble(kv, stores, record.fileId, join(outDir, name), {
        preference: p.deployment.topology.clouds.map((c) => c.name),
      });
      const source = await hashStream(createReadStream(path));
      const same = back.sha256 === source.sha256 && back.size === source.size;
      good &&= same;
      process.stdout.write(
        `  read back ${name.padEnd(18)} ${same ? "identical" : "DIFFERENT"} (sha256 ${back.sha256.slice(0, 16)}…)\n`,
      );
    }
    process.stdout.write(good ? "demo passed: every file complete and read back byte-identical\n" : "demo FAILED\n");
    return good;
  } finally {
    await nc.close();
  }
}

function summary(files: FileRecord[], replicas: number, seconds: number): string {
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const chunks = files.reduce((n, f) => n + (f.chunkCount ?? 0), 0);
  const stage = emptyStageTimes();
  for (const f of files) for (const k of STAGES) stage[k] += f.stageMs[k];
  const total = Object.values(stage).reduce((a, b) => a + b, 0) || 1;
  return [
    "",
    `files     ${files.length} (${files.filter((f) => f.state === "complete").length} complete)`,
    `bytes     ${formatBytes(bytes)}`,
    `chunks    ${chunks}, replicas verified ${replicas}`,
    `time      ${seconds.toFixed(1)} s, ${(bytes / 1e6 / seconds).toFixed(1)} MB/s`,
    "stage time (work summed over chunks):",
    ...Object.entries(stage).map(
      ([k, ms]) =>
        `  ${k.padEnd(8)} ${(ms / 1000).toFixed(2).padStart(8)} s  ${((100 * ms) / total).toFixed(0).padStart(3)} %`,
    ),
    "",
  ].join("\n");
}
