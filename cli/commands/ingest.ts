import { type EncryptionKey, KEY_FILE_ENV, keyFileChoice, loadKeyFile } from "../../client/encryption/key-file.ts";
import { type IngestOptions, type SubmittedFile, waitForFiles } from "../../client/ingest.ts";
import { checkSource, type IngestTarget, routeSource, submitTarget } from "../../client/ingest-target.ts";
import { initTracing } from "../../observability/tracing.ts";
import { InputError } from "../../shared/errors.ts";
import type { Transform } from "../../shared/events.ts";
import type { FileRecord, ManifestReader } from "../../shared/manifest.ts";
import type { ClientView } from "../../shared/topology/client-view.ts";
import { readDeployment } from "../../shared/topology/deployment.ts";
import { parseDuration, parseSize } from "../../shared/units.ts";
import { REQUEST_LIMITS } from "../../stages/ingest/request-limits.ts";
import { parseCommand } from "../args.ts";
import {
  OBJECTS_OPTION,
  OBJECTS_OPTION_HELP,
  objectAccess,
  objectsChoice,
  openSession,
  SERVER_OPTIONS,
  SERVER_OPTIONS_HELP,
  sessionOptions,
} from "../home.ts";
import { durableNote, LiveBlock, progressLine } from "../progress.ts";
import { printable } from "../terminal-text.ts";

export const INGEST_HELP = `Usage: ferry ingest <file or URL...> [options]

Publishes each file into the pipeline (one request on files.ingest.<cloud> per file).
A local file is read by the ingest workers of --cloud (default: the first cloud of the topology),
and only under that cloud's sourceRoots (see topology.json). An object URL (s3://bucket/key,
gs://bucket/object, az://container/blob) is read by the cloud whose store is of that kind, with
that cloud's own credentials. Every source is checked first; if any is refused, nothing is published.

Options:
  --cloud <name>      the cloud whose ingest workers read the files (default: the first cloud; for a URL, the first of its kind)
  --upload            read the files here and write their chunks into the cloud's staging, with your own store
                      credentials or (--objects gateway) through upload URLs from the cloud's gateway; no
                      worker needs to see this machine's disk (and sourceRoots do not apply).
                      To resume an interrupted upload, run the same command again: a journal in
                      $XDG_STATE_HOME/ferry/uploads (default ~/.local/state/ferry/uploads) remembers the
                      chunks already staged, and only the rest are read and sent; a file changed since
                      is uploaded from the start as a new file, and the command says so
  --encrypt           encrypt each file here before any byte leaves this machine (implies --upload): AES-256-GCM
                      in 64 KiB segments under a new key per file, wrapped by the deployment key; the workers,
                      staging and every replica hold only ciphertext. Not resumable; no --validate
  --key-file <path>   the deployment key for --encrypt (ferry keygen writes one; default: $${KEY_FILE_ENV})
  --wait              wait until every file is complete, failed, or durable (held by fewer clouds
                      than wanted because the others do not answer); progress bars on a terminal
  --json              print one JSON object per file: fileId, name, size, sha256, chunkCount, state, traceId
                      (sha256 is the file's SHA-256, or for a resumed upload or read its chunk-list digest: see the README)
  --chunk-size <n>    chunk size, 1KiB to 1GiB, e.g. 4MiB (default: chunkSize in topology.json)
  --no-record-boundaries  cut line formats (.jsonl, .csv, ...) at exact sizes instead of after a newline
  --validate jsonl    dead-letter the file if a line is not valid JSON
  --max-wait <d>      with --wait, give up waiting for the files after this long, e.g. 10m (default: no limit)
${OBJECTS_OPTION_HELP}
${SERVER_OPTIONS_HELP}

Exit status: 0 all complete (or submitted), 1 a file failed or timed out, 2 bad input,
3 none failed but a file is durable only: safe on the clouds that answer, and completed by itself
when the others return.`;

/** `ferry ingest`: check, submit, optionally wait and report. */
export async function ingestCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    wait: { type: "boolean" },
    json: { type: "boolean" },
    "chunk-size": { type: "string" },
    "no-record-boundaries": { type: "boolean" },
    validate: { type: "string" },
    "max-wait": { type: "string" },
    cloud: { type: "string" },
    ...SERVER_OPTIONS,
    ...OBJECTS_OPTION,
    upload: { type: "boolean" },
    encrypt: { type: "boolean" },
    "key-file": { type: "string" },
  });
  if (values.help) return help();
  if (positionals.length === 0) throw new InputError("ferry ingest: name at least one file (see ferry ingest --help)");
  const request = requestOptions(values);
  const encryptWith = await encryptionKey(values, request);
  const upload = values.upload || encryptWith !== undefined;
  const objects = objectsChoice(values.objects);
  const maxWaitMs = values["max-wait"] === undefined ? Infinity : parseDuration("--max-wait", values["max-wait"]);
  // Every source is checked on its own, then against the deployment (its clouds, their source
  // roots), before anything is published.
  const checked = await checkAll(positionals, checkSource);
  const where = sessionOptions(values);
  // On the deployment's own machine its file names the clouds and their roots: refuse before connecting.
  const local = where.hubUrls ? undefined : readDeployment(where.home);
  const route = (d: ClientView) =>
    checkAll(checked, async (src) => ({
      ...(await routeSource(src, d, values.cloud, upload)),
      ...(encryptWith ? { encryptWith } : {}),
    }));
  const routed = local ? await route(local) : undefined;
  const session = await openSession(where);
  // Each file's publish is the root of its trace, exported to the deployment's Jaeger (or OTEL_EXPORTER_OTLP_ENDPOINT).
  const tracing = initTracing({
    service: "ferry-cli",
    ...(session.deployment.jaeger ? { otlpUrl: session.deployment.jaeger.otlpUrl } : {}),
  });
  try {
    const sources = routed ?? (await route(session.deployment));
    const submitted: Submitted[] = [];
    for (const src of sources) {
      const file = await submitTarget({ ...session, stores: objectAccess(session, objects) }, src, request, {
        notify: (line) => process.stderr.write(`${line}\n`),
      });
      submitted.push({ file, src });
    }
    if (!values.wait) {
      for (const { file, src } of submitted) report(values.json, file, src, undefined);
      return 0;
    }
    return await waitAndReport(session.kv, submitted, values.json, maxWaitMs);
  } finally {
    await tracing.shutdown();
    await session.close();
  }
}

type Submitted = { file: SubmittedFile; src: IngestTarget };

/** Waits for every file to settle, with live progress on a terminal; 1 when one failed or timed out, 3 when one is durable only. */
async function waitAndReport(kv: ManifestReader, submitted: Submitted[], json: boolean | undefined, maxWaitMs: number) {
  const live = process.stderr.isTTY && !json ? new LiveBlock(process.stderr) : undefined;
  const files = await waitForFiles(
    kv,
    submitted.map((s) => s.file.fileId),
    (latest) => live?.render(submitted.map((s) => progressLine(s.src.name, latest.get(s.file.fileId)))),
    maxWaitMs,
  );
  let failed = 0;
  let durable = 0;
  for (const { file, src } of submitted) {
    const f = files.get(file.fileId);
    if (f?.state === "durable") durable++;
    else if (f?.state !== "complete") failed++;
    report(json, file, src, f);
  }
  return failed > 0 ? 1 : durable > 0 ? 3 : 0;
}

/** Runs `check` on every item; if any fails, throws one InputError listing every problem. */
async function checkAll<T, U>(items: T[], check: (item: T) => Promise<U>): Promise<U[]> {
  const problems: string[] = [];
  const ok: U[] = [];
  for (const item of items) {
    try {
      ok.push(await check(item));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (problems.length > 0) throw new InputError(`nothing was ingested:\n  ${problems.join("\n  ")}`);
  return ok;
}

function report(
  json: boolean | undefined,
  { fileId, traceId }: SubmittedFile,
  src: IngestTarget,
  f: FileRecord | undefined,
): void {
  const name = src.name;
  if (json) {
    const line = {
      fileId,
      name,
      size: "size" in src.source ? src.source.size : (f?.size ?? null),
      sha256: f?.sha256 ?? null,
      chunkCount: f?.chunkCount ?? null,
      state: f?.state ?? "submitted",
      ...(f?.reason ? { reason: f.reason } : {}),
      ...(f?.heldBy ? { heldBy: f.heldBy } : {}),
      traceId: traceId ?? f?.traceId ?? null,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } else if (f?.state === "failed") {
    process.stdout.write(`${fileId}  ${printable(name)}  failed: ${printable(f.reason ?? "unknown reason")}\n`);
  } else if (f?.state === "durable") {
    process.stdout.write(`${fileId}  ${printable(name)}  ${durableNote(f)}\n`);
  } else {
    process.stdout.write(`${fileId}  ${printable(name)}  ${f?.state ?? "submitted"}\n`);
  }
}

/** The deployment key when `--encrypt` is given (loaded and checked before anything is read or sent). */
async function encryptionKey(
  values: { encrypt?: boolean | undefined; "key-file"?: string | undefined },
  request: IngestOptions,
): Promise<EncryptionKey | undefined> {
  const keyFile = keyFileChoice(values["key-file"]);
  if (!values.encrypt) {
    if (values["key-file"] !== undefined)
      throw new InputError("--key-file is for --encrypt: add --encrypt, or leave it out");
    return undefined;
  }
  if (request.transforms?.length)
    throw new InputError("--validate cannot check encrypted chunks (the workers see only ciphertext): leave one out");
  if (keyFile === undefined)
    throw new InputError(
      `--encrypt needs the deployment key: --key-file <path> or ${KEY_FILE_ENV} (ferry keygen -o <path> makes one)`,
    );
  return loadKeyFile(keyFile);
}

function help(): number {
  process.stdout.write(`${INGEST_HELP}\n`);
  return 0;
}

/** What every file's request asks for besides its path: chunk size, record boundaries, transforms. */
function requestOptions(values: {
  "chunk-size"?: string | undefined;
  "no-record-boundaries"?: boolean | undefined;
  validate?: string | undefined;
}): IngestOptions {
  const transforms: Transform[] = [];
  if (values.validate !== undefined) {
    if (values.validate !== "jsonl")
      throw new InputError(`--validate: "${values.validate}" is not supported (use jsonl)`);
    transforms.push("validate-jsonl");
  }
  const chunkSize = values["chunk-size"] === undefined ? undefined : parseSize("--chunk-size", values["chunk-size"]);
  // The workers' bounds, checked here so nothing is uploaded or published that they would refuse.
  if (chunkSize !== undefined && (chunkSize < REQUEST_LIMITS.minChunkSize || chunkSize > REQUEST_LIMITS.maxChunkSize))
    throw new InputError(
      `--chunk-size: ${values["chunk-size"]} is not between 1KiB and 1GiB; give a size in that range`,
    );
  return {
    ...(chunkSize === undefined ? {} : { chunkSize }),
    ...(values["no-record-boundaries"] ? { recordBoundaries: false } : {}),
    transforms,
  };
}
