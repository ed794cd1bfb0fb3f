import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateFiles } from "../../chaos/drill-files.ts";
import type { KillWorkersReport } from "../../chaos/drill-report.ts";
import { runKillWorkersDrill } from "../../chaos/kill-workers.ts";
import { applyStoresOption, loadTopology, STORES_OPTION_HELP } from "../../shared/topology/config.ts";
import { formatBytes, parseDuration, parseSize } from "../../shared/units.ts";
import { parseCommand, UsageError } from "../args.ts";
import { resolveTopologyPath } from "../home.ts";
import { CHAOS_FAULTS_HELP, chaosFaultCommand, FAULT_SCENARIOS } from "./chaos-faults.ts";
import { chaosHostsCommand } from "./chaos-hosts.ts";

export const CHAOS_HELP = `Usage: ferry chaos kill-workers [options]
       ferry chaos hosts [options]     hosts that share nothing but TCP (see ferry chaos hosts --help)
       ferry chaos <scenario> [options]   lose-cloud, partition, slow-store, hub-node, disk-full, bit-rot
                                       (see below)

Breaks the pipeline on purpose and shows that nothing was lost. Starts a private deployment
(free ports, a temporary folder), generates random files and ingests them; while they are in
flight it SIGKILLs a random set of up to 20 % of all worker processes at once (the orchestrator
included) every ~1.5 s, and the launcher restarts them. When every file is finished (or
--duration has passed) and the pipeline has drained, it checks every invariant:
  every file complete, every file reads back byte-identical, one intact replica per chunk in
  every store, every staging area empty, no dead letters, no stuck consumer, and the temp files
  of killed writers swept.
Writes to fs stores are slowed to 2 MiB/s (1 MiB chunks, ack wait 5s) so that kills land mid-chunk;
the local S3, GCS and Azure servers run at their own pace.

Options:
  --files <n>         files to generate and ingest (default 4)
  --size <size>       size of each file (default 8MiB)
  --duration <d>      keep killing for at most this long, e.g. 90s (default 2m)
  --seed <n>          replay the choices of an earlier run (every run prints its seed)
  --kill-stores       also kill the local S3, GCS and Azure servers (each is restarted within a second;
                      Azurite gets SIGTERM, as it loses acknowledged writes on SIGKILL)
  --keep              keep the temporary folder (data, stores, logs) afterwards
  --topology <file>   the clouds to deploy (default: FERRY_TOPOLOGY or topology.json)
  ${STORES_OPTION_HELP}

Exit status: 0 every invariant held; 1 a violation (the folder is kept for its logs); 2 bad input.

${CHAOS_FAULTS_HELP}`;

const DRILLS = ["kill-workers", "hosts", ...FAULT_SCENARIOS].join(", ");
const DRILL_CHUNK = 1024 * 1024;
const DRILL_THROTTLE_BPS = 2 * 1024 * 1024;
const DRILL_ACK_WAIT_MS = 5000;

/** `ferry chaos <drill>`: the failure drills, kill-workers and hosts. */
export async function chaosCommand(argv: string[]): Promise<number> {
  if (argv[0] === "hosts") return chaosHostsCommand(argv.slice(1));
  if (FAULT_SCENARIOS.includes(argv[0] ?? "")) return chaosFaultCommand(argv);
  const { values, positionals } = parseCommand(argv, {
    files: { type: "string" },
    size: { type: "string" },
    duration: { type: "string" },
    seed: { type: "string" },
    keep: { type: "boolean" },
    topology: { type: "string" },
    stores: { type: "string" },
    "kill-stores": { type: "boolean" },
  });
  if (values.help) {
    process.stdout.write(`${CHAOS_HELP}\n`);
    return 0;
  }
  const [drill, ...extra] = positionals;
  if (drill !== "kill-workers" || extra.length > 0)
    throw new UsageError(`ferry chaos: name one drill: ${DRILLS} (see ferry chaos --help)`);
  const count = wholeNumber("--files", values.files ?? "4");
  const size = parseSize("--size", values.size ?? "8MiB");
  const durationMs = parseDuration("--duration", values.duration ?? "2m");
  const seed = values.seed === undefined ? undefined : wholeNumber("--seed", values.seed, 0);
  // The user's clouds, with drill settings: small slow chunks and a short ack wait so a kill costs seconds.
  const topology = {
    ...applyStoresOption(loadTopology(resolveTopologyPath(values.topology)), values.stores),
    chunkSizeBytes: DRILL_CHUNK,
    ackWaitMs: DRILL_ACK_WAIT_MS,
    orphanAgeMs: 3000,
  };
  const root = await mkdtemp(join(tmpdir(), "ferry-chaos-"));
  const say = (s: string) => process.stderr.write(`${s}\n`);
  let report: KillWorkersReport | undefined;
  try {
    await mkdir(join(root, "data"));
    say(`generating ${count} file(s) of ${formatBytes(size)} in ${join(root, "data")}…`);
    const files = await generateFiles(join(root, "data"), count, size);
    report = await runKillWorkersDrill({
      dataDir: join(root, "deploy"),
      topology,
      files,
      durationMs,
      throttleBytesPerSec: DRILL_THROTTLE_BPS,
      killStores: values["kill-stores"] ?? false,
      ...(seed === undefined ? {} : { seed }),
      log: say,
    });
    const replay = [
      "./ferry chaos kill-workers",
      ...argv.filter((a) => a !== "kill-workers" && a !== "--keep"),
      ...(seed === undefined ? ["--seed", String(report.seed)] : []),
    ].join(" ");
    process.stdout.write(formatReport(report, replay));
    return report.passed ? 0 : 1;
  } finally {
    if (report?.passed && !values.keep) await rm(root, { recursive: true, force: true });
    else say(`drill files kept in ${root}`);
  }
}

function wholeNumber(flag: string, v: string, min = 1): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min)
    throw new UsageError(`${flag}: "${v}" is not a whole number of at least ${min}`);
  return n;
}

function formatReport(r: KillWorkersReport, replay: string): string {
  const perWorker = Object.entries(r.killsPerWorker)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([w, n]) => `${w} ${n}`)
    .join(", ");
  const complete = r.files.filter((f) => f.state === "complete").length;
  const chunks = r.files.reduce((n, f) => n + (f.chunks ?? 0), 0);
  const lines = [
    "",
    `kill-workers drill, seed ${r.seed}`,
    `kills       ${r.kills.length} in ${r.rounds} round(s), ${r.kills.filter((k) => k.busy).length} on a busy worker`,
    `            ${perWorker || "none"}`,
    `files       ${r.files.length} (${complete} complete), ${chunks} chunks`,
    `bytes       ${formatBytes(r.bytes)}`,
    `time        ${(r.chaosMs / 1000).toFixed(1)} s under fire, ${(r.wallMs / 1000).toFixed(1)} s in all`,
    "invariants:",
  ];
  for (const i of r.invariants) {
    lines.push(`  ${i.violations.length === 0 ? "PASS" : "FAIL"}  ${i.name}`);
    for (const v of i.violations.slice(0, 20)) lines.push(`          - ${v}`);
    if (i.violations.length > 20) lines.push(`          … and ${i.violations.length - 20} more`);
  }
  lines.push(
    r.passed
      ? "drill passed: nothing was lost"
      : `drill FAILED: replay its choices with: ${replay}\nworker and server logs: ${r.logDir}`,
    "",
  );
  return lines.join("\n");
}
