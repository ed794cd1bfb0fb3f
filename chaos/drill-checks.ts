/**
 * The drill's verdict: once the kills stop, wait without faults for the files to finish and every
 * consumer to drain, then check every invariant (invariants.ts) and that killed writers' temp files
 * were swept.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { listDeadLetters } from "../client/dead-letters.ts";
import { describeError } from "../shared/errors.ts";
import type { FileRecord } from "../shared/manifest.ts";
import { becomesTrue } from "../shared/retry.ts";
import { isFsOpenSpec } from "../shared/stores/fs/kind.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import type { Pipeline } from "../supervisor/pipeline.ts";
import { allFinished, type DrillClient, readRecords } from "./drill-client.ts";
import type { CompiledOptions } from "./drill-options.ts";
import { serversDown } from "./drill-pipeline.ts";
import {
  type DrillFile,
  type FileRecords,
  filesComplete,
  noDeadLetters,
  type PipelineState,
  pipelineDrained,
  readBackIdentical,
  readPipelineState,
  replicasIntact,
  stagingEmpty,
} from "./invariants.ts";

export interface InvariantResult {
  name: string;
  violations: string[];
}

/** Waits, without faults, for the files to finish and every consumer to drain; then checks every invariant. */
export async function settleAndCheck(
  p: Pipeline,
  c: DrillClient,
  files: DrillFile[],
  options: Pick<CompiledOptions, "drainTimeoutMs">,
  log: (l: string) => void,
): Promise<{ records: FileRecords; invariants: InvariantResult[] }> {
  const down = serversDown(p);
  if (down.length > 0) {
    // Nothing drains without its servers, and every check would only time out.
    log(`nats-server ${down.join(", ")} died, and this drill kills only workers: something outside it killed them`);
    const violations = down.map((s) => `nats-server ${s} is not running; the other invariants were not checked`);
    return {
      records: new Map(),
      invariants: [{ name: "nats servers stayed up (this drill kills only workers)", violations }],
    };
  }
  const deadline = Date.now() + options.drainTimeoutMs;
  await becomesTrue(async () => allFinished(await readRecords(c.kv, files)), {
    timeoutMs: deadline - Date.now(),
    intervalMs: 200,
  });
  const state = await waitForDrain(c, deadline);
  log("checking the invariants");
  const records = await readRecords(c.kv, files).catch((err: unknown): FileRecords => {
    log(`cannot read the manifest: ${describeError(err)}`);
    return new Map();
  });
  const invariants = await checkInvariants(c, p.deployment, files, records, state);
  // Killed writers' temp files are swept once they sit untouched for orphanAge (then a sweep tick).
  const sweptBy = Date.now() + 2 * p.deployment.topology.orphanAgeMs + 5000;
  await becomesTrue(async () => (await tempLeftovers(p.deployment)).length === 0, {
    timeoutMs: sweptBy - Date.now(),
    intervalMs: 200,
  });
  invariants.push({ name: "temp files of killed writers swept", violations: await tempLeftovers(p.deployment) });
  return { records, invariants };
}

/** Polls the consumers until they are drained twice in a row a second apart, or the deadline passes. */
async function waitForDrain(c: DrillClient, deadline: number): Promise<PipelineState | Error> {
  let last: PipelineState | Error = new Error("never read");
  let calm = 0;
  await becomesTrue(
    async () => {
      try {
        last = await readPipelineState({ domain: c.hubDomain, jsm: c.hubJsm }, c.leaves);
        calm = pipelineDrained(last).length === 0 ? calm + 1 : 0;
      } catch (err) {
        last = err instanceof Error ? err : new Error(String(err));
        calm = 0;
      }
      return calm >= 2;
    },
    { timeoutMs: deadline - Date.now(), intervalMs: 1000 },
  );
  return last;
}

async function checkInvariants(
  c: DrillClient,
  d: Deployment,
  files: DrillFile[],
  records: FileRecords,
  drain: PipelineState | Error,
): Promise<InvariantResult[]> {
  const ids = files.map((f) => f.fileId);
  const known = [...records.values()].filter((r): r is FileRecord => r !== undefined);
  const check = async (name: string, run: () => Promise<string[]> | string[]): Promise<InvariantResult> => {
    try {
      return { name, violations: await run() };
    } catch (err) {
      return { name, violations: [`the check itself failed: ${describeError(err)}`] };
    }
  };
  return [
    await check("every file complete", () => filesComplete(files, records)),
    await check("every file reads back byte-identical", () =>
      readBackIdentical(
        c.kv,
        c.stores,
        files,
        join(d.dataDir, "readback"),
        d.topology.clouds.map((x) => x.name),
      ),
    ),
    await check("one intact replica per chunk in every store", () => replicasIntact(c.kv, c.stores, known)),
    await check("every staging area empty", () => stagingEmpty(c.stores, ids)),
    await check("no dead letters", async () => noDeadLetters(files, records, await listDeadLetters(c.hubJs, Infinity))),
    await check("pipeline drained (no stuck consumer)", () =>
      drain instanceof Error ? [`cannot read the consumers: ${describeError(drain)}`] : pipelineDrained(drain),
    ),
  ];
}

/** Temp files a killed writer left in an fs store (never visible as objects; swept after orphanAge). */
async function tempLeftovers(d: Deployment): Promise<string[]> {
  const out: string[] = [];
  for (const [cloud, spec] of Object.entries(d.stores)) {
    if (!isFsOpenSpec(spec)) continue;
    const names = await readdir(join(spec.root, ".tmp")).catch(() => [] as string[]);
    if (names.length > 0)
      out.push(`${cloud}: ${names.length} temp file(s) of interrupted writes still in the store's .tmp folder`);
  }
  return out;
}
