/**
 * The scenario drills beyond kill-workers (`ferry chaos lose-cloud`, `bit-rot`): a private deployment,
 * seeded files, one fault injected and healed on the scenario's own schedule, then the same drain and
 * invariants as kill-workers (drill-checks.ts), read from the stores themselves. A scenario is a
 * `Fault`: it decides when to submit the files, breaks something, heals it, and reports its figures.
 */
import { join } from "node:path";
import type { Topology } from "../shared/topology/config.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import type { Pipeline } from "../supervisor/pipeline.ts";
import { type CommandsReport, runCommandsUnderFire } from "./commands-under-fire.ts";
import { type InvariantResult, settleAndCheck } from "./drill-checks.ts";
import { type DrillClient, openDrillClient } from "./drill-client.ts";
import { type DrillLinkOptions, type DrillLinks, proxyDrillLinks } from "./drill-links.ts";
import { startDrillPipeline } from "./drill-pipeline.ts";
import type { DrillFile } from "./invariants.ts";
import { submitFiles } from "./kill-workers.ts";
import { mulberry32, randomSeed } from "./random.ts";

export interface FaultContext {
  pipeline: Pipeline;
  client: DrillClient;
  /** The seeded PRNG: the same seed makes the same choices. */
  rand: () => number;
  log: (line: string) => void;
  /**
   * Submits the drill's files (again, as new files, when called again) to `clouds` in turn (default
   * every cloud); returns this batch. The invariants are checked on every batch.
   */
  submit(clouds?: string[]): Promise<DrillFile[]>;
  /** Every file submitted so far, every batch. */
  submitted(): DrillFile[];
  /** The proxies between the servers, when the scenario asked for them. */
  links: DrillLinks | undefined;
}

/** Figures a scenario measured (milliseconds, counts, names), printed and in --json. */
export type Figures = Record<string, number | string>;

/** What a scenario measured, and the targets of its own it missed (each a violation). */
export interface FaultOutcome {
  figures: Figures;
  violations: string[];
}

export interface Fault {
  name: string;
  /** Links to put behind proxies the scenario can cut and slow (partition, slow-store). */
  links?: DrillLinkOptions;
  /** Changes the planned deployment before anything starts (disk-full mounts its small disk here). */
  prepare?(d: Deployment, rand: () => number): Promise<void>;
  /** Runs the scenario: submit, break, heal. The drill then drains and checks every invariant. */
  run(ctx: FaultContext): Promise<FaultOutcome>;
}

export interface FaultDrillOptions {
  dataDir: string;
  topology: Topology;
  files: string[];
  seed?: number;
  /** Time allowed, after the fault healed, for files to finish and every consumer to drain. @default 120 s */
  drainTimeoutMs?: number;
  log: (line: string) => void;
}

export interface FaultReport {
  scenario: string;
  seed: number;
  passed: boolean;
  files: number;
  figures: Figures;
  invariants: InvariantResult[];
  wallMs: number;
  logDir: string;
}

export async function runFaultDrill(fault: Fault, options: FaultDrillOptions): Promise<FaultReport> {
  const seed = options.seed ?? randomSeed();
  const started = Date.now();
  const { log } = options;
  log(`${fault.name}: starting a private deployment in ${options.dataDir} (seed ${seed})`);
  const rand = mulberry32(seed);
  const { pipeline, links } = await startFaultPipeline(fault, { ...options, seed }, rand);
  let client: DrillClient | undefined;
  try {
    client = await openDrillClient(pipeline.deployment);
    const c = client;
    let files: DrillFile[] = [];
    const all = pipeline.deployment.topology.clouds.map((x) => x.name);
    const submit = async (clouds = all) => {
      const batch = await submitFiles(c, options.files, clouds);
      files = [...files, ...batch];
      log(`submitted ${batch.length} file(s) to ${clouds.join(", ")}`);
      return batch;
    };
    const ctx = { pipeline, client, rand, log, submit, submitted: () => files, links };
    const { outcome, fire } = await runUnderFire(fault, ctx, () => files);
    const { figures, violations } = outcome;
    figures.commandsRun = fire.runs;
    figures.commandsRefused = fire.refused;
    figures.commandsSlowestMs = fire.slowestMs;
    log(`${fault.name}: healed; waiting for the pipeline to drain, then checking every invariant`);
    const drainTimeoutMs = options.drainTimeoutMs ?? 120_000;
    const { invariants } = await settleAndCheck(pipeline, client, files, { drainTimeoutMs }, log);
    invariants.unshift(
      { name: `${fault.name} met its targets`, violations },
      { name: "status and cat rode out the fault (no crash, no hang)", violations: fire.violations },
    );
    return {
      scenario: fault.name,
      seed,
      passed: invariants.every((i) => i.violations.length === 0),
      files: files.length,
      figures,
      invariants,
      wallMs: Date.now() - started,
      logDir: join(pipeline.deployment.dataDir, "logs"),
    };
  } finally {
    await client?.close();
    await pipeline.stop();
    await links?.stop();
  }
}

/** The drill's private deployment, with the proxies the scenario asked for between its servers. */
async function startFaultPipeline(
  fault: Fault,
  options: FaultDrillOptions & { seed: number },
  rand: () => number,
): Promise<{ pipeline: Pipeline; links: DrillLinks | undefined }> {
  let links: DrillLinks | undefined;
  const wanted = fault.links;
  const adjust = async (d: Deployment) => {
    await fault.prepare?.(d, rand);
    if (wanted) links = await proxyDrillLinks(d, wanted);
  };
  try {
    // As `ferry up` does: a server that stops (a full disk can stop one) is started again.
    const { pipeline } = await startDrillPipeline({ ...options, killStores: true }, adjust);
    return { pipeline, links };
  } catch (err) {
    await links?.stop();
    throw err;
  }
}

/** Runs the scenario with the user's commands running beside it until it is over. */
async function runUnderFire(
  fault: Fault,
  ctx: FaultContext,
  files: () => DrillFile[],
): Promise<{ outcome: FaultOutcome; fire: CommandsReport }> {
  const commands = runCommandsUnderFire(ctx.pipeline.deployment, files);
  try {
    const outcome = await fault.run(ctx);
    return { outcome, fire: await commands.stop() };
  } finally {
    await commands.stop();
  }
}
