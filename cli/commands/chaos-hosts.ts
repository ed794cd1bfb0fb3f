import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type HostsDrillReport, removeDrillFolder, runHostsDrill } from "../../chaos/hosts/hosts-drill.ts";
import { DEFAULT_BANDWIDTH_KBPS, RTT_MS } from "../../chaos/hosts/wan-links.ts";
import { formatBytes, parseSize } from "../../shared/units.ts";
import { parseCommand, UsageError } from "../args.ts";

export const CHAOS_HOSTS_HELP = `Usage: ferry chaos hosts [--files <n>] [--size <size>] [--quick] [options]

Proves that hosts sharing nothing but TCP run one pipeline. Plans every host's bundle
(ferry plan --loopback), then starts the hub (its 3 nodes on one host, in the AWS region) and
the aws, gcp and azure clouds (on the local S3, GCS and Azure servers) each as a host of its own:
\`ferry up --role ... --home <its folder>\` in its own user and mount namespace (unshare), where
the other hosts' folders and the client's are hidden under an empty tmpfs, with an environment of
its own. Every link between hosts (each leaf to each hub node, the client to the hub, every host
to another cloud's store server) goes through toxiproxy with the round-trip time between the
regions (AWS-GCP 60 ms, AWS-Azure 93 ms, GCP-Azure 75 ms, 2 ms within one) and a bandwidth cap.

From a client host (its own folder, which no worker can read) it then:
  1. uploads --files files with \`ferry ingest --upload ... --hub <urls> --wait\`, every toxic off
     (the same links at loopback speed);
  2. uploads --files more files the same way with WAN latency and the cap on every link;
  3. ingests one s3://, one gs:// and one az:// object, and SIGKILLs the hub's meta leader mid-run;
  4. reads every file back from every cloud with \`ferry get\` / \`ferry cat\`, comparing bytes;
and prints the throughput of rounds 1 and 2 side by side with the concurrency used.

Options:
  --files <n>        files per upload round, all in flight at once (default 4)
  --size <size>      size of each file and each object (default 16MiB)
  --chunk-size <s>   chunk size (default 1MiB)
  --bandwidth <s>    each link's cap, each way, per second (default 25MB)
  --concurrency <n>  messages each worker handles at once, every stage (default: each stage's own)
  --quick            2 files of 256KiB, 64KiB chunks: the form the test suite runs
  --keep             keep the folder (hosts' folders, logs) afterwards
  --json             print the report as JSON

Exit status: 0 every check held; 1 one failed (the folder is kept); 2 bad input.`;

/** `ferry chaos hosts`: the multi-host drill. */
export async function chaosHostsCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(
    argv,
    {
      files: { type: "string" },
      size: { type: "string" },
      "chunk-size": { type: "string" },
      bandwidth: { type: "string" },
      concurrency: { type: "string" },
      quick: { type: "boolean" },
      keep: { type: "boolean" },
      json: { type: "boolean" },
    },
    false,
  );
  if (values.help) {
    process.stdout.write(`${CHAOS_HOSTS_HELP}\n`);
    return 0;
  }
  const quick = values.quick === true;
  const files = Number(values.files ?? (quick ? 2 : 4));
  if (!Number.isInteger(files) || files < 1)
    throw new UsageError(`--files: "${values.files}" is not a whole number of at least 1`);
  const size = parseSize("--size", values.size ?? (quick ? "256KiB" : "16MiB"));
  const chunkSize = parseSize("--chunk-size", values["chunk-size"] ?? (quick ? "64KiB" : "1MiB"));
  const bandwidth =
    values.bandwidth === undefined ? DEFAULT_BANDWIDTH_KBPS * 1000 : parseSize("--bandwidth", values.bandwidth);
  if (size < 1 || chunkSize < 1 || bandwidth < 1000)
    throw new UsageError("--size and --chunk-size must be at least 1 byte, --bandwidth at least 1KB");
  const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1))
    throw new UsageError(`--concurrency: "${values.concurrency}" is not a whole number of at least 1`);
  const root = await mkdtemp(join(tmpdir(), "ferry-hosts-"));
  const say = (s: string) => process.stderr.write(`${s}\n`);
  let passed = false;
  try {
    const report = await runHostsDrill({
      root,
      files,
      size,
      chunkSize,
      ...(concurrency === undefined ? {} : { concurrency }),
      bandwidthKBps: Math.floor(bandwidth / 1000),
      say,
    });
    passed = failures(report).length === 0;
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatHostsReport(report, bandwidth));
    return passed ? 0 : 1;
  } finally {
    if (passed && !values.keep) removeDrillFolder(root);
    else say(`drill folder kept in ${root} (hosts' folders under lab/, logs under logs/)`);
  }
}

/** What did not hold, one line each. */
export function failures(r: HostsDrillReport): string[] {
  const out: string[] = [];
  for (const v of r.isolation) {
    if (!v.readsOwnFolder) out.push(`${v.host} cannot read its own folder`);
    for (const dir of v.seesOthers) out.push(`${v.host} can see ${dir}`);
    if (v.strayEnv.length > 0) out.push(`${v.host}'s environment has ${v.strayEnv.join(", ")}`);
  }
  for (const l of r.leafRoutes)
    if (!l.throughProxy) out.push(`${l.cloud}'s leaf reaches the hub on port ${l.port}, not through its proxy`);
  for (const f of [...r.wan.files, ...r.urls.files, ...r.loopback.files])
    if (f.state !== "complete") out.push(`${f.name} ${f.state}${f.reason ? `: ${f.reason}` : ""}`);
  for (const b of r.readBacks)
    if (!b.identical) out.push(`${b.fileId} from ${b.cloud} (${b.how}) differs${b.error ? `: ${b.error}` : ""}`);
  return out;
}

function formatHostsReport(r: HostsDrillReport, bandwidth: number): string {
  const rate = (x: HostsDrillReport["wan"]) =>
    `${x.mbPerSecond.toFixed(2)} MB/s (${formatBytes(x.bytes)} in ${x.seconds.toFixed(1)} s)`;
  const bad = failures(r);
  const conc = Object.entries(r.concurrency)
    .map(([s, n]) => `${s} ${n}`)
    .join(", ");
  return `${[
    "",
    "hosts drill: hub (3 nodes, AWS region), aws, gcp, azure and a client, sharing nothing but TCP",
    `links       RTT aws-gcp ${RTT_MS.aws.gcp} ms, aws-azure ${RTT_MS.aws.azure} ms, gcp-azure ${RTT_MS.gcp.azure} ms, ${RTT_MS.aws.aws} ms within a region; cap ${formatBytes(bandwidth)}/s each way`,
    `setup       ${r.setupSeconds.toFixed(1)} s to plan and start every host`,
    `leaf links  ${r.leafRoutes.map((l) => `${l.cloud} ${l.throughProxy ? "through its proxy" : "AROUND its proxy"}`).join(", ")}`,
    `isolation   ${r.isolation.map((v) => `${v.host} ${v.seesOthers.length === 0 && v.readsOwnFolder ? "alone" : "NOT ALONE"}`).join(", ")}`,
    `WAN         ${rate(r.wan)}`,
    `loopback    ${rate(r.loopback)}`,
    `concurrency ${r.filesInFlight} file(s) in flight; per worker ${conc}; 1 worker process per stage per cloud`,
    `URLs        ${r.urls.files.map((f) => `${f.name} ${f.state}`).join(", ")} in ${r.urls.seconds.toFixed(1)} s`,
    `hub kill    ${r.killedHubNode.name} (pid ${r.killedHubNode.pid}) SIGKILLed ${r.killedHubNode.afterMs} ms into the URL round`,
    `read back   ${r.readBacks.filter((b) => b.identical).length} of ${r.readBacks.length} identical (every file from every cloud)`,
    ...(bad.length === 0 ? ["drill passed"] : ["drill FAILED:", ...bad.map((l) => `  - ${l}`)]),
    "",
  ].join("\n")}\n`;
}
