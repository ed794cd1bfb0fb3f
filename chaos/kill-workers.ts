/**
 * The kill-workers drill (the failure model in the README's "What survives what"): while files are in flight, SIGKILL a random set
 * of up to 20 % of all worker processes at once (the orchestrator included), let the launcher restart
 * them, repeat; then, once the pipeline has drained, check every invariant. Choices come from a seeded
 * PRNG, so `seed` replays the same victims and intervals (timing on the machine still varies).
 *
 * This file runs the drill's steps in order; each step is its own module: the deployment
 * (drill-pipeline.ts), the kill rounds (kill-rounds.ts) and whom they choose (victims.ts), the
 * checks once they stop (drill-checks.ts) and the report (drill-report.ts).
 */

import { submitIngest } from "../client/ingest.ts";
import { checkIngestFile } from "../client/preflight.ts";
import { FerryError } from "../shared/errors.ts";
import { newFileId } from "../shared/ids.ts";
import { retry } from "../shared/retry.ts";
import { settleAndCheck } from "./drill-checks.ts";
import { type DrillClient, openDrillClient } from "./drill-client.ts";
import { compileOptions, type KillWorkersOptions } from "./drill-options.ts";
import { startDrillPipeline } from "./drill-pipeline.ts";
import { drillReport, type KillWorkersReport, totalBytes } from "./drill-report.ts";
import type { DrillFile } from "./invariants.ts";
import { type Kill, killWhileInFlight } from "./kill-rounds.ts";
import { perRound, victimsOf } from "./victims.ts";

/** Runs the drill on a private deployment and returns its report; everything it started is stopped. */
export async function runKillWorkersDrill(options: KillWorkersOptions): Promise<KillWorkersReport> {
  const compiled = compileOptions(options);
  const started = Date.now();
  const log = options.log;
  log(`starting a private deployment in ${options.dataDir} (seed ${compiled.seed})`);
  const { pipeline, pids } = await startDrillPipeline(options);
  let client: DrillClient | undefined;
  try {
    client = await openDrillClient(pipeline.deployment);
    const clouds = pipeline.deployment.topology.clouds.map((c) => c.name);
    const files = await submitFiles(client, options.files, clouds);
    const targets = victimsOf(pipeline, options.killStores ?? false);
    log(
      `submitted ${files.length} file(s), ${totalBytes(files)} bytes; killing up to ${perRound(compiled, pipeline)} of ${targets.size} workers${options.killStores ? " and store servers" : ""} every ~${compiled.intervalMs} ms`,
    );
    const chaosStarted = Date.now();
    const kills: Kill[] = [];
    const rounds = await killWhileInFlight(pipeline, targets, client, files, compiled, kills, log);
    const chaosMs = Date.now() - chaosStarted;
    log(`kills stopped after ${rounds} round(s), ${kills.length} kill(s); waiting for the pipeline to drain`);
    const { records, invariants } = await settleAndCheck(pipeline, client, files, compiled, log);
    const wallMs = Date.now() - started;
    return drillReport({
      seed: compiled.seed,
      pipeline,
      files,
      rounds,
      kills,
      records,
      invariants,
      chaosMs,
      wallMs,
      pids,
    });
  } finally {
    await client?.close();
    await pipeline.stop();
  }
}

/**
 * Checks each file, then asks for its ingest; one at a time, in the order given, dealt to the clouds in
 * turn so that every cloud's ingest workers have files to lose.
 */
export async function submitFiles(
  client: DrillClient,
  paths: string[],
  clouds: string[],
): Promise<Array<DrillFile & { size: number }>> {
  const files: Array<DrillFile & { size: number }> = [];
  for (const [i, path] of paths.entries()) {
    const src = await checkIngestFile(path);
    const cloud = clouds[i % clouds.length];
    // One id for every try: a publish whose ack was lost (a hub node killed) is not ingested twice.
    const fileId = newFileId();
    await retry(() => submitIngest(client.hubJs, src, { fileId, ...(cloud ? { cloud } : {}) }), {
      attempts: 10,
      retryable: (err) => !(err instanceof FerryError),
    });
    files.push({ fileId, path: src.path, size: src.size });
  }
  return files;
}
