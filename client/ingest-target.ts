import { basename } from "node:path";
import type { JetStreamClient } from "@nats-io/jetstream";
import { InputError, PoisonMessageError } from "../shared/errors.ts";
import { newFileId } from "../shared/ids.ts";
import type { ReliableConnection } from "../shared/nats/reliable.ts";
import { defaultRecordBoundaries } from "../shared/sources/chunk-plan.ts";
import { looksLikeUrl, type ObjectUrl, parseObjectUrl } from "../shared/sources/object-url.ts";
import { resolvePolicy, resolveUnderRoots, sourcePolicy } from "../shared/sources/source-roots.ts";
import type { ClientView } from "../shared/topology/client-view.ts";
import { sealedChunkSize, uploadEncrypted } from "./encryption/encrypted-upload.ts";
import type { EncryptionKey } from "./encryption/key-file.ts";
import { type IngestOptions, type SubmittedFile, submitIngest } from "./ingest.ts";
import { type CheckedIngestFile, checkIngestFile } from "./preflight.ts";
import { type ResumeOptions, uploadResumably } from "./resumable-upload.ts";
import type { UploadStaging } from "./upload.ts";

/** A command-line source, checked on its own: a readable local file, or a well-formed object URL. */
export type CheckedSource = { file: CheckedIngestFile } | { object: ObjectUrl };

/** One thing to ingest, checked, and the cloud whose ingest workers will read it. */
export interface IngestTarget {
  /** A local file, or an object URL read by the cloud's workers with its own credentials. */
  source: CheckedIngestFile | { url: string };
  cloud: string;
  /** The base name, for people. */
  name: string;
  /** Sent by this client itself into the cloud's staging (`--upload`), not read by a worker. */
  upload?: boolean;
  /** Encrypt it here with this deployment key before upload (`--encrypt`); implies `upload`. */
  encryptWith?: EncryptionKey;
}

/** Checks what can be checked without a deployment: the file exists and is readable, or the URL is one ferry reads. */
export async function checkSource(arg: string): Promise<CheckedSource> {
  return looksLikeUrl(arg) ? { object: parseObjectUrl(arg) } : { file: await checkIngestFile(arg) };
}

/**
 * Picks a checked source's cloud. A local path goes to `cloud` (default: the topology's first
 * cloud) and must be under that cloud's source roots; an object URL goes to `cloud` when its store
 * is of the URL's kind, else to the first cloud whose store is. Throws InputError naming the fix.
 */
export async function routeSource(
  src: CheckedSource,
  d: ClientView & { dataDir?: string },
  cloud: string | undefined,
  upload = false,
): Promise<IngestTarget> {
  const clouds = d.topology.clouds;
  if (cloud !== undefined && !clouds.some((c) => c.name === cloud))
    throw new InputError(
      `--cloud: "${cloud}" is not a cloud of this deployment (${clouds.map((c) => c.name).join(", ")})`,
    );
  if ("object" in src) {
    if (upload)
      throw new InputError(`${src.object.url}: --upload and --encrypt send files from this machine, not objects`);
    const url = src.object;
    const kindOf = (name: string) => d.stores[name]?.kind;
    const chosen = cloud ?? clouds.find((c) => kindOf(c.name) === url.kind)?.name;
    if (chosen === undefined)
      throw new InputError(
        `${url.url}: no cloud of this deployment keeps its data in ${url.kind}, so none can read it`,
      );
    if (kindOf(chosen) !== url.kind)
      throw new InputError(
        `${url.url}: cloud ${chosen} keeps its data in ${kindOf(chosen)}, not ${url.kind}; leave out --cloud`,
      );
    return { source: { url: url.url }, cloud: chosen, name: basename(url.key) };
  }
  const target = cloud ?? clouds[0]?.name ?? "";
  // An upload is read here and written to the cloud's staging: no worker reads this disk.
  if (upload) return { source: src.file, cloud: target, name: basename(src.file.path), upload: true };
  try {
    await resolveUnderRoots(src.file.path, await resolvePolicy(sourcePolicy(d, target)));
  } catch (err) {
    if (err instanceof PoisonMessageError) throw new InputError(err.message);
    throw err;
  }
  return { source: src.file, cloud: target, name: basename(src.file.path) };
}

/**
 * Publishes one target's ingest request. An upload first writes the file's chunks into the cloud's
 * staging with this user's credentials (`session.stores`), then names them in the request; an
 * upload interrupted before it published goes on where it stopped when run again (`resume`).
 */
export async function submitTarget(
  session: {
    /** Retries the publish through hub restarts; without it, one try. */
    rc?: ReliableConnection;
    hubJs: JetStreamClient;
    /** How this client reaches each cloud's objects (its own credentials, or the gateways). */
    stores: Map<string, UploadStaging>;
    deployment: ClientView;
  },
  target: IngestTarget,
  options: IngestOptions,
  resume: ResumeOptions = {},
): Promise<SubmittedFile> {
  // Same file id on every try: the hub's duplicate window keeps one request.
  const fileId = options.fileId ?? newFileId();
  const submit = (source: Parameters<typeof submitIngest>[1], extra: IngestOptions = {}) => {
    const once = () => submitIngest(session.hubJs, source, { ...options, fileId, ...extra, cloud: target.cloud });
    return session.rc ? session.rc.run(`submitting ${target.name}`, once) : once();
  };
  if (!target.upload || !("path" in target.source)) return submit(target.source);
  const staging = session.stores.get(target.cloud);
  if (!staging) throw new InputError(`cloud ${target.cloud} has no store this client can reach`);
  const cut = {
    chunkSize: options.chunkSize ?? session.deployment.topology.chunkSizeBytes,
    recordBoundaries: options.recordBoundaries ?? defaultRecordBoundaries(target.name),
  };
  if (target.encryptWith) {
    // Not resumable: the data key and the plaintext's HMAC would have to outlive the process.
    const id = options.fileId ?? fileId;
    const sealed = await uploadEncrypted(staging, id, target.source.path, cut.chunkSize, target.encryptWith);
    // Ciphertext has no records: chunks hold whole segments, cut at exact sizes.
    const chunkSize = sealedChunkSize(cut.chunkSize);
    return submit({ ...sealed, name: target.name }, { chunkSize, recordBoundaries: false, fileId: id });
  }
  const identity = { path: target.source.path, cloud: target.cloud, ...cut };
  const upload = await uploadResumably(staging, identity, () => options.fileId ?? newFileId(), resume);
  const submitted = await submit({ uploaded: upload.uploaded, name: target.name }, { ...cut, fileId: upload.fileId });
  upload.journal.remove();
  return submitted;
}
