import {
  collectReport,
  DEFAULT_REPORT_WINDOW_MS,
  type PipelineReport,
  type StageReport,
} from "../../observability/monitor.ts";
import { FerryError } from "../../shared/errors.ts";
import { STAGES } from "../../shared/stages.ts";
import { formatBytes, parseDuration } from "../../shared/units.ts";
import { parseCommand, UsageError } from "../args.ts";
import { openSession, SERVER_OPTIONS, SERVER_OPTIONS_HELP, sessionOptions } from "../home.ts";

export const REPORT_HELP = `Usage: ferry report [--since <duration> | --file <fileId>] [--json]

The stage monitor. From the event history on the hub it works out, for each stage
(${STAGES.join(", ")}):
  throughput      bytes/s and chunks/s over the time the stage was busy (first to last piece of work)
  success         successes / (successes + failures); failures are dead letters, and for verify
                  also replicas found missing or corrupt (retries that later succeed do not count)
  share of time   the stage's work time over the work time of all stages (per chunk the slowest
                  replica counts, as in ./ferry status <fileId>)
and flags the bottleneck: the stage with the largest share, when it is above 25 % (minor),
35 % (moderate) or 50 % (severe).

Options:
  --since <duration>  the time window to look back over, e.g. 15m, 2h, 7d (default 1h)
  --file <fileId>     one file, from its first event to its completion
  --json              the report as one JSON object: { from, to, fileId?, events, stages[], bottleneck? }
${SERVER_OPTIONS_HELP}`;

/** `ferry report`: per-stage throughput, success rate and share of pipeline time, and the bottleneck. */
export async function reportCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(
    argv,
    { since: { type: "string" }, file: { type: "string" }, json: { type: "boolean" }, ...SERVER_OPTIONS },
    false,
  );
  if (values.help) {
    process.stdout.write(`${REPORT_HELP}\n`);
    return 0;
  }
  if (values.since !== undefined && values.file !== undefined)
    throw new UsageError("--since and --file do not go together: a file's report covers its whole life");
  const sinceMs = values.since === undefined ? DEFAULT_REPORT_WINDOW_MS : parseSince(values.since);
  const session = await openSession(sessionOptions(values));
  let report: PipelineReport;
  try {
    report = await collectReport(
      { hubJs: session.hubJs, kv: session.kv, run: session.rc.run },
      values.file === undefined ? { sinceMs } : { fileId: values.file },
    );
  } finally {
    await session.close();
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  process.stdout.write(
    render(report, values.file === undefined ? `the last ${values.since ?? "1h"}` : `file ${values.file}`),
  );
  return 0;
}

function parseSince(value: string): number {
  try {
    const ms = parseDuration("--since", value);
    if (ms > 0) return ms;
  } catch (err) {
    if (!(err instanceof FerryError)) throw err;
  }
  throw new UsageError(`--since: "${value}" is not a duration such as 15m, 2h or 7d`);
}

const pct = (x: number | null) => (x === null ? "-" : `${(x * 100).toFixed(1)} %`);

function render(r: PipelineReport, scope: string): string {
  if (r.events === 0)
    return `no stage work recorded in ${scope}: ingest a file (./ferry ingest <file>) or look further back (--since 24h)\n`;
  const header = ["stage", "chunks", "bytes", "throughput", "chunks/s", "success", "share of time", "work time"];
  const rows = r.stages.map((s: StageReport) => [
    s.stage,
    String(s.chunks),
    formatBytes(s.bytes),
    `${formatBytes(Math.round(s.bytesPerSec))}/s`,
    s.chunksPerSec.toFixed(1),
    `${pct(s.successRate)}${s.failed ? ` (${s.failed} failed)` : ""}`,
    pct(s.share),
    `${(s.busyMs / 1000).toFixed(2)} s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const verdict = r.bottleneck
    ? `bottleneck: ${r.bottleneck.stage} takes ${pct(r.bottleneck.share)} of pipeline time (${r.bottleneck.severity}; minor > 25 %, moderate > 35 %, severe > 50 %)`
    : "no bottleneck: no stage takes more than 25 % of pipeline time";
  return [
    `stage report for ${scope}: ${r.events} events from ${r.from} to ${r.to}`,
    "",
    line(header),
    ...rows.map(line),
    "",
    verdict,
    "",
  ].join("\n");
}
