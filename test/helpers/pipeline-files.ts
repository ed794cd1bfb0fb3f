/** Files pushed through a test pipeline, and what they left in its stores, its streams and its manifest. */
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { isFinished, submitIngest, waitForFiles } from "../../client/ingest.ts";
import { checkIngestFile } from "../../client/preflight.ts";
import { reassemble } from "../../client/reassemble.ts";
import type { FileRecord } from "../../shared/manifest.ts";
import { FILES_STREAM, LEAF_CONSUMERS, leafStageStream, stageSource } from "../../shared/stream-names.ts";
import { chunkSubject } from "../../shared/subjects.ts";
import { fsRoot } from "../../shared/topology/deployment.ts";
import { eventually, listFiles, sha256File, writeRandomFile } from "./files.ts";
import type { TestPipeline } from "./pipeline.ts";

export interface SentFile {
  fileId: string;
  path: string;
  sha256: string;
  size: number;
}

/** Writes `size` random bytes to `<dir>/<name>` and submits it as `ferry ingest` does. */
export async function sendRandomFile(t: TestPipeline, name: string, size: number): Promise<SentFile> {
  const path = join(t.dir, name);
  const sha256 = writeRandomFile(path, size);
  const { fileId } = await submitIngest(t.hubJs, await checkIngestFile(path));
  return { fileId, path, sha256, size };
}

/** Waits until the file is complete or failed and returns its record. */
export async function finished(t: TestPipeline, fileId: string, timeoutMs = 90_000): Promise<FileRecord> {
  const files = await waitForFiles(t.kv, [fileId], () => undefined, timeoutMs, isFinished);
  return files.get(fileId) as FileRecord;
}

/** Rebuilds the file from verified replicas (only `from`'s, when given) and returns its SHA-256. */
export async function readBack(t: TestPipeline, fileId: string, from?: string): Promise<string> {
  const out = join(t.dir, `back-${fileId}-${from ?? "any"}`);
  const clouds = t.pipeline.deployment.topology.clouds.map((c) => c.name);
  await reassemble(t.kv, t.stores, fileId, out, from ? { from, preference: [from] } : { preference: clouds });
  return sha256File(out);
}

/** Keys under `prefix` in a cloud's fs store (temp files aside). */
export function fsObjects(t: TestPipeline, cloud: string, prefix: string): string[] {
  return listFiles(join(fsRoot(t.pipeline.deployment, cloud), prefix)).map((k) => `${prefix}${k}`);
}

/** Waits until the cloud's own workers have deleted the file's staging (shortly after it completes). */
export async function stagingCollected(t: TestPipeline, cloud: string, fileId: string): Promise<void> {
  const gone = () => (fsObjects(t, cloud, `staging/${fileId}/`).length === 0 ? true : undefined);
  await eventually(gone, 15_000, `${cloud} to collect the staging of ${fileId}`);
}

/** One durable consumer: messages its filter matches in the stream, and deliveries it made (redeliveries included). */
export interface ConsumerDeliveries {
  consumer: string;
  cloud: string;
  messages: number;
  deliveries: number;
}

/**
 * Per stage consumer, from the broker itself: a consumer that delivered each of its messages once
 * has `deliveries === messages`; every redelivery (nak, ack wait lapsed) adds one.
 */
export async function consumerDeliveries(t: TestPipeline): Promise<ConsumerDeliveries[]> {
  const out: ConsumerDeliveries[] = [];
  const hubJsm = await jetstreamManager(t.nc, { domain: t.pipeline.deployment.topology.hubDomain });
  for (const cloud of Object.keys(t.pipeline.deployment.leaves)) {
    const ingest = stageSource("ingest", cloud).consumer;
    const info = await hubJsm.consumers.info(FILES_STREAM, ingest);
    let messages = 0;
    for (const subject of info.config.filter_subjects ?? [])
      messages += await countSubject(hubJsm, FILES_STREAM, subject);
    out.push({ consumer: ingest, cloud, messages, deliveries: info.delivered.consumer_seq });
  }
  for (const cloud of Object.keys(t.pipeline.deployment.leaves)) {
    const jsm = await jetstreamManager(await t.leaf(cloud));
    for (const { stage, takes, from } of LEAF_CONSUMERS) {
      const stream = leafStageStream(stage, cloud);
      out.push({
        consumer: stage,
        cloud,
        messages: await countSubject(jsm, stream, chunkSubject(takes, from === "every" ? "*" : cloud)),
        deliveries: (await jsm.consumers.info(stream, stage)).delivered.consumer_seq,
      });
    }
  }
  return out;
}

async function countSubject(
  jsm: Awaited<ReturnType<typeof jetstreamManager>>,
  stream: string,
  subject: string,
): Promise<number> {
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  return Object.values(info.state.subjects ?? {}).reduce((n, c) => n + c, 0);
}
