import { listDeadLetters } from "../../client/dead-letters.ts";
import { jaegerQueryUrl, traceUrl } from "../../observability/trace-link.ts";
import { pingWorkers } from "../../runtime/ping.ts";
import type { FileEncryption } from "../../shared/crypto/file-encryption.ts";
import { InputError } from "../../shared/errors.ts";
import { type FileRecord, listFileRecords, readChunkRecords, readFileRecord } from "../../shared/manifest.ts";
import { leafLinksOverNats } from "../../shared/nats/leaf-probe.ts";
import { leafLinks } from "../../shared/nats/monitoring.ts";
import type { Deployment } from "../../shared/topology/deployment.ts";
import { formatBytes } from "../../shared/units.ts";
import { readRunState } from "../../supervisor/run-state.ts";
import { parseCommand } from "../args.ts";
import { openSession, SERVER_OPTIONS, SERVER_OPTIONS_HELP, type Session, sessionOptions } from "../home.ts";
import { durableNote, progressLine } from "../progress.ts";
import { printable } from "../terminal-text.ts";

export const STATUS_HELP = `Usage: ferry status [fileId] [--json]

Without a file id: the hub, each cloud's leaf and whether it is linked to the hub, every worker
(stage, cloud, pid, messages handled) and the files not yet complete.
With a file id: the file's state, the URL of its trace in Jaeger (FERRY_JAEGER_URL, else the
deployment's Jaeger) and every chunk with its replicas (cloud, store, key, verified).

Options:
  --json         machine-readable output
${SERVER_OPTIONS_HELP}`;

/** `ferry status`: the topology and files in flight, or one file in detail. */
export async function statusCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, { json: { type: "boolean" }, ...SERVER_OPTIONS });
  if (values.help) {
    process.stdout.write(`${STATUS_HELP}\n`);
    return 0;
  }
  const session = await openSession(sessionOptions(values));
  try {
    const [fileId] = positionals;
    if (fileId) return await fileStatus(session, fileId, values.json ?? false);
    return await overview(session, values.json ?? false);
  } finally {
    await session.close();
  }
}

async function fileStatus(s: Session, fileId: string, json: boolean): Promise<number> {
  const file = await readFileRecord(s.kv, fileId);
  if (!file) throw new InputError(`no file with id ${fileId}: run ./ferry status to list files`);
  const chunks = (await readChunkRecords(s.kv, file)).map((c) => ({
    index: c.index,
    offset: c.offset,
    size: c.size,
    sha256: c.sha256,
    replicas: c.replicas.map((r) => ({
      cloud: r.cloud,
      store: r.store,
      bucket: r.bucket,
      key: r.key,
      verified: r.verified,
    })),
  }));
  const { completeBitmap: _bits, ...rest } = file;
  const queryUrl = jaegerQueryUrl(s.deployment);
  const link = file.traceId && queryUrl ? traceUrl(queryUrl, file.traceId) : undefined;
  // The Jaeger the set-up builds has no UI assets; the dashboard draws a file's trace from Jaeger's API.
  const dashboardUrl = dashboardOf(s);
  const view = file.traceId && link && dashboardUrl ? `${dashboardUrl}trace/${file.traceId}` : undefined;
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ ...rest, traceId: file.traceId ?? null, traceUrl: link ?? null, traceViewUrl: view ?? null, chunks })}\n`,
    );
    return 0;
  }
  const lines = [
    `${file.fileId}  ${printable(file.name)}`,
    `  state    ${file.state === "durable" ? durableNote(file) : file.state}${file.reason ? `: ${printable(file.reason)}` : ""}`,
    `  size     ${formatBytes(file.size)} in ${file.chunkCount ?? "?"} chunks, ${file.replicas} replicas each`,
    `  sha256   ${file.sha256 ?? "(not yet known)"}`,
    ...(file.encryption ? [encryptionLine(file.encryption)] : []),
    `  progress ${file.chunksComplete}/${file.chunkCount ?? "?"} chunks complete`,
    `  trace    ${view ? `${view}  (in Jaeger: ${link})` : (link ?? (file.traceId ? `${file.traceId} (set FERRY_JAEGER_URL to get a link)` : "(none recorded)"))}`,
    ...chunks.map(
      (c) =>
        `  chunk ${String(c.index).padStart(5)}  ${formatBytes(c.size).padStart(10)}  ${c.replicas.map((r) => `${r.cloud}:${r.verified ? "verified" : "placed"}`).join("  ")}`,
    ),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

/** An encrypted file's line: how, with which key, and that size and sha256 are the ciphertext's. */
const encryptionLine = (e: FileEncryption): string =>
  `  encrypted key id ${e.keyId}, ${formatBytes(e.plaintextSize)} of plaintext in ${formatBytes(e.segmentSize)} AES-256-GCM segments (size and sha256 above are of the ciphertext)`;

async function overview(s: Session, json: boolean): Promise<number> {
  const d = s.deployment;
  const clouds = d.topology.clouds.map((c) => c.name);
  const [links, workers, files, deadLetters] = await Promise.all([
    linksOf(s, clouds),
    pingWorkers(s.nc, 500),
    listFileRecords(s.kv),
    s.rc.run("reading the dead letters", () => listDeadLetters(s.hubJs, 3)),
  ]);
  const count = (state: FileRecord["state"]) => files.filter((f) => f.state === state).length;
  const inFlight = files.filter((f) => f.state === "ingesting" || f.state === "processing");
  const failed = files.filter((f) => f.state === "failed");
  const durable = files.filter((f) => f.state === "durable");
  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        hub: { url: d.hub.url, domain: d.topology.hubDomain, up: true },
        ...(dashboardOf(s) ? { dashboardUrl: dashboardOf(s) } : {}),
        leaves: clouds.map((c) => ({ cloud: c, url: d.leaves[c]?.url, linked: links[c] ?? false })),
        workers: workers.map((w) => ({ stage: w.stage, cloud: w.cloud, pid: w.pid, worker: w.worker, stats: w.stats })),
        files: {
          total: files.length,
          complete: count("complete"),
          durable: durable.map((f) => ({ ...brief(f), heldBy: f.heldBy ?? [] })),
          failed: failed.map(brief),
          inFlight: inFlight.map(brief),
        },
        latestDeadLetters: deadLetters.map((l) => ({
          at: l.at,
          stage: l.stage,
          cloud: l.cloud,
          reason: l.reason,
          ...(l.fileId ? { fileId: l.fileId } : {}),
        })),
      })}\n`,
    );
    return 0;
  }
  const dashboardUrl = dashboardOf(s);
  const lines = [
    ...(dashboardUrl ? [`dashboard ${dashboardUrl}`] : []),
    `hub     ${d.hub.url}  up`,
    ...clouds.map(
      (c) => `leaf    ${c.padEnd(8)}${d.leaves[c]?.url ?? "?"}  ${links[c] ? "linked to hub" : "NOT LINKED"}`,
    ),
    `workers (${workers.length})`,
    ...workers.map(
      (w) =>
        `  ${w.cloud.padEnd(8)}${w.stage.padEnd(13)}pid ${String(w.pid).padEnd(8)}handled ${w.stats.handled}, retried ${w.stats.retried}, dead-lettered ${w.stats.deadLettered}`,
    ),
    `files   ${files.length} total: ${count("complete")} complete, ${inFlight.length} in flight, ${durable.length} durable, ${failed.length} failed`,
    ...inFlight.map((f) => `  ${f.fileId}  ${progressLine(f.name, f)}`),
    ...durable.map((f) => `  ${f.fileId}  ${printable(f.name)}  ${durableNote(f)}`),
    ...failed.map((f) => `  ${f.fileId}  ${printable(f.name)}  failed: ${printable(f.reason ?? "unknown reason")}`),
    ...(deadLetters.length === 0 ? [] : [`latest dead letters (all: ./ferry dead-letters)`]),
    ...deadLetters.map((l) => `  ${l.at}  ${l.stage}@${l.cloud}: ${printable(l.reason)}`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

/** The dashboard's URL, known on the deployment's own host only (it listens on that host's loopback). */
const dashboardOf = (s: Session): string | undefined => (s.home ? readRunState(s.home)?.dashboardUrl : undefined);

/** Which leaves are linked: from the hub's monitoring on its own host, else over NATS from anywhere. */
function linksOf(s: Session, clouds: string[]): Promise<Record<string, boolean>> {
  const d = s.deployment;
  // On the hub's host every node's monitoring port answers; elsewhere the hub is asked over NATS.
  if (s.home && "hubNodes" in d)
    return leafLinks((d as Deployment).hubNodes, clouds).catch(() => ({}) as Record<string, boolean>);
  return leafLinksOverNats(s.nc, clouds);
}

function brief(f: FileRecord) {
  return {
    fileId: f.fileId,
    name: f.name,
    state: f.state,
    size: f.size,
    chunkCount: f.chunkCount ?? null,
    chunksComplete: f.chunksComplete,
    ...(f.reason ? { reason: f.reason } : {}),
  };
}
