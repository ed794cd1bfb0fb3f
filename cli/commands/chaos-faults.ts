import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateFiles } from "../../chaos/drill-files.ts";
import { type FaultReport, runFaultDrill } from "../../chaos/fault-drill.ts";
import { inMountNamespace, rerunInMountNamespace, unmountSmallDisks } from "../../chaos/small-disk.ts";
import { STORES_OPTION_HELP } from "../../shared/topology/config.ts";
import { formatBytes, parseSize } from "../../shared/units.ts";
import { parseCommand, UsageError } from "../args.ts";
import { asUsage, drillTopology, faultOf, whole } from "./chaos-fault-options.ts";

export const CHAOS_FAULTS_HELP = `Usage: ferry chaos lose-cloud [options] [--outage <d>] [--cloud <name>]
       ferry chaos partition [options] [--cut <d>] [--flap <d>] [--cloud <name>]
       ferry chaos slow-store [options] [--phase <d>] [--cloud <name>]
       ferry chaos hub-node [options] [--rounds <n>]
       ferry chaos disk-full [options] [--disk store|jetstream] [--full-for <d>] [--cloud <name>]
       ferry chaos bit-rot [options]
       ferry chaos mix [options] [--rounds <n>]

Scenario drills on a private deployment (free ports, a temporary folder), each with seeded files:
  lose-cloud  a whole cloud (its leaf, workers, gateway and store server) frozen while files are
              ingested in the others, for --outage, then back. Every file must be complete or durable
              within the placement deadline + 30 s of the loss, and complete (full replicas) within
              60 s of the return.
  partition   one cloud's leaf link to the hub (through a proxy) silently cut for --cut, longer than
              the JetStream duplicate window, then flapping for --flap, then healed, while files are
              ingested in every cloud. Every file must be complete within 30 s of the heal.
  slow-store  one cloud's store server (through a proxy) with added latency, then a bandwidth cap,
              then stalled connections, then reset ones (in a seeded order, --phase each) while files
              are ingested; then healed. Every file must be complete within 60 s of the heal. Needs
              store servers (not --stores fs).
  hub-node    one node of the 3-node hub SIGKILLed (first the JetStream meta leader), --rounds times,
              each while a batch of files is ingested; the supervisor starts it again. A file of
              each batch must be complete within 10 s of the kill.
  disk-full   one cloud's store folder (--disk store: an fs store's root, or its store server's data)
              or its leaf's JetStream folder (--disk jetstream) on a small disk (a tmpfs in a mount
              namespace of the drill's own, no root needed) filled to the last byte while files are
              ingested, for --full-for, then freed. No worker may crash; every file must be complete
              within 30 s of the space returning.
  bit-rot     once every file is complete, one replica in ten is flipped, truncated or deleted in its
              store; a scrub must find and repair every one.
  mix         --rounds rounds of one fault, or two at once on two clouds (lose-cloud, partition,
              slow-store, disk-full), chosen by the seed, then a bit-rot round. The parts' own targets
              are reported; every file must be complete within 90 s of the last round.
Then, as kill-workers: the pipeline must drain, every file read back byte-identical, one intact
replica per chunk in every store, staging empty, no dead letters. A report with the figures follows
(--json for one object).

Options:
  --files <n>               files to generate and ingest (default 4)
  --size <size>             size of each file (default 4MiB; 1 MiB chunks)
  --seed <n>                replay the choices of an earlier run (every run prints its seed)
  --placement-deadline <d>  lose-cloud: the deployment's placement deadline (default 5s)
  --outage <d>              lose-cloud: how long the cloud is gone (default twice the deadline + 10 s)
  --cloud <name>            lose-cloud, partition, slow-store: the cloud to break (default: chosen by the seed)
  --cut <d>                 partition: how long the silent cut lasts (default the duplicate window + 15 s)
  --flap <d>                partition: how long the link then flaps (default 12s)
  --rounds <n>              hub-node: how many kills; mix: how many rounds (default 3)
  --disk <which>            disk-full: "store" (default) or "jetstream"
  --full-for <d>            disk-full: how long the disk stays full (default 15s)
  --disk-size <size>        disk-full: the small disk's size (default 256MiB)
  --phase <d>               slow-store: how long each kind of trouble lasts (default 6s)
  --duplicate-window <d>    the deployment's JetStream duplicate window (default 10s)
  --json                    the report as one JSON object on stdout
  --keep                    keep the temporary folder afterwards
  --topology <file>         the clouds to deploy (default: FERRY_TOPOLOGY or topology.json)
  ${STORES_OPTION_HELP}

Exit status: 0 every invariant held; 1 a violation (the folder is kept for its logs); 2 bad input.`;

export const FAULT_SCENARIOS = ["lose-cloud", "partition", "slow-store", "hub-node", "disk-full", "bit-rot", "mix"];

/** `ferry chaos lose-cloud | bit-rot`. */
export async function chaosFaultCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    files: { type: "string" },
    size: { type: "string" },
    seed: { type: "string" },
    "placement-deadline": { type: "string" },
    outage: { type: "string" },
    cloud: { type: "string" },
    cut: { type: "string" },
    flap: { type: "string" },
    phase: { type: "string" },
    disk: { type: "string" },
    rounds: { type: "string" },
    "full-for": { type: "string" },
    "disk-size": { type: "string" },
    "duplicate-window": { type: "string" },
    json: { type: "boolean" },
    keep: { type: "boolean" },
    topology: { type: "string" },
    stores: { type: "string" },
  });
  if (values.help) {
    process.stdout.write(`${CHAOS_FAULTS_HELP}\n`);
    return 0;
  }
  const [scenario, ...extra] = positionals;
  if (!scenario || !FAULT_SCENARIOS.includes(scenario) || extra.length > 0)
    throw new UsageError(`ferry chaos: name one scenario: ${FAULT_SCENARIOS.join(", ")} (see ferry chaos --help)`);
  const count = whole("--files", values.files ?? "4");
  const size = asUsage(() => parseSize("--size", values.size ?? "4MiB"));
  const seed = values.seed === undefined ? undefined : whole("--seed", values.seed, 0);
  const topology = drillTopology(values, scenario);
  const fault = faultOf(scenario, values, topology);
  // The small disk is a tmpfs mounted in a namespace of the drill's own: run the drill again inside one.
  if ((scenario === "disk-full" || scenario === "mix") && !inMountNamespace()) return rerunInMountNamespace();
  const root = await mkdtemp(join(tmpdir(), `ferry-chaos-${scenario}-`));
  const say = (s: string) => process.stderr.write(`${s}\n`);
  let report: FaultReport | undefined;
  try {
    await mkdir(join(root, "data"));
    say(`generating ${count} file(s) of ${formatBytes(size)}…`);
    const files = await generateFiles(join(root, "data"), count, size);
    report = await runFaultDrill(fault, {
      dataDir: join(root, "deploy"),
      topology,
      files,
      ...(seed === undefined ? {} : { seed }),
      log: say,
    });
    process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : formatFaultReport(report));
    return report.passed ? 0 : 1;
  } finally {
    if (report?.passed && !values.keep) {
      unmountSmallDisks();
      await rm(root, { recursive: true, force: true });
    } else say(`drill files kept in ${root}`);
  }
}

export function formatFaultReport(r: FaultReport): string {
  const lines = [
    "",
    `${r.scenario} drill, seed ${r.seed}: ${r.files} file(s), ${(r.wallMs / 1000).toFixed(1)} s in all`,
    ...Object.entries(r.figures).map(([k, v]) => `  ${k.padEnd(28)}${v}`),
    "invariants:",
  ];
  for (const i of r.invariants) {
    lines.push(`  ${i.violations.length === 0 ? "PASS" : "FAIL"}  ${i.name}`);
    for (const v of i.violations.slice(0, 20)) lines.push(`          - ${v}`);
  }
  lines.push(
    r.passed
      ? "drill passed: nothing was lost"
      : `drill FAILED: replay it with --seed ${r.seed}\nworker and server logs: ${r.logDir}`,
    "",
  );
  return lines.join("\n");
}
