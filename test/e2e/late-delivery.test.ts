/**
 * A chunk event delivered again after its file completed (the worker that handled it died before it
 * could ack, and the ack wait ran out only once the file was done and its staging collected) is a late
 * duplicate, not poison: process and place ack it and dead-letter nothing. A staged chunk gone from a
 * file that is not complete stays poison. (The kill-workers drill once dead-lettered such a late chunk.)
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { listDeadLetters } from "../../client/dead-letters.ts";
import { stagingKey } from "../../shared/chunk-keys.ts";
import { readChunkRecords } from "../../shared/manifest.ts";
import { cloudStream, stageSource } from "../../shared/stream-names.ts";
import { chunkSubject } from "../../shared/subjects.ts";
import { eventually } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { finished, sendRandomFile, stagingCollected } from "../helpers/pipeline-files.ts";

const CHUNK = 64 * 1024; // the test pipeline's chunk size
let t: TestPipeline;
/** The cloud that ingested the first test's file: its stream holds the events the tests copy. */
let ingestCloud = "";
const CLOUDS = ["aws", "gcp", "azure"];

beforeAll(async () => {
  t = await startTestPipeline();
});
afterAll(async () => {
  await t?.stop();
});

/** Publishes a copy of the cloud's last event on `subject` under a new message id, changed by `edit`. */
async function republish(cloud: string, subject: string, edit: (ev: Record<string, unknown>) => void): Promise<void> {
  const nc = await t.leaf(cloud);
  const last = await (await jetstreamManager(nc)).streams.getMessage(cloudStream(cloud), { last_by_subj: subject });
  const ev = last!.json<Record<string, unknown>>();
  edit(ev);
  await jetstream(nc).publish(subject, JSON.stringify(ev), { msgID: `late-${subject}-${Date.now()}` });
}

/** Waits until the cloud's process consumer and every cloud's place consumer have acked all they were given. */
async function drained(cloud: string): Promise<void> {
  const consumers = [
    { cloud, stage: "process" as const },
    ...CLOUDS.map((c) => ({ cloud: c, stage: "place" as const })),
  ];
  await eventually(
    async () => {
      for (const c of consumers) {
        const jsm = await jetstreamManager(await t.leaf(c.cloud));
        const info = await jsm.consumers.info(stageSource(c.stage, c.cloud).stream, c.stage);
        if (info.num_pending > 0 || info.num_ack_pending > 0) return undefined;
      }
      return true;
    },
    60_000,
    `${cloud}'s process consumer and every place consumer drained`,
  );
}

it("acks a chunk delivered again after its file completed, and dead-letters nothing", async () => {
  const s = await sendRandomFile(t, "late.bin", 3 * CHUNK);
  const done = await finished(t, s.fileId);
  expect(done.state).toBe("complete");
  const cloud = done.stagingClouds[0]!;
  ingestCloud = cloud;
  await stagingCollected(t, cloud, s.fileId);
  // place reads staging only for a replica that is missing: remove the last chunk's own-cloud replica
  // so that the late copy of the cloud's last processed event (that chunk's) must read staging.
  const last = (await readChunkRecords(t.kv, done)).at(-1)!;
  await t.stores.get(cloud)!.delete(last.replicas.find((r) => r.cloud === cloud)!.key);

  await republish(cloud, chunkSubject("ingested", cloud), () => {});
  await republish(cloud, chunkSubject("processed", cloud), () => {});
  await drained(cloud);
  expect(await listDeadLetters(t.hubJs)).toEqual([]);
});

it("still dead-letters a chunk whose staging is gone while its file is not complete", async () => {
  const cloud = ingestCloud;
  await republish(cloud, chunkSubject("ingested", cloud), (ev) => {
    ev.fileId = "no-such-file";
    (ev.staging as { key: string }).key = stagingKey("no-such-file", ev.index as number);
  });
  const letters = await eventually(
    async () => {
      const l = await listDeadLetters(t.hubJs);
      return l.length > 0 ? l : undefined;
    },
    60_000,
    "a dead letter",
  );
  expect(letters).toHaveLength(1);
  expect(letters[0]).toMatchObject({ stage: "process", cloud });
  // The republished chunks.ingested is itself an announcement: once the orchestrator has projected
  // it, the chunk is known and its file (not complete) fails with the reason; before that, no ingest
  // announced the chunk, so the event is untrusted and its dead letter names no file. Either way it
  // is dead-lettered, not taken for a late delivery.
  const reason = letters[0]?.reason ?? "";
  if (letters[0]?.fileId === undefined)
    expect(reason).toMatch(/names chunk \d+ of file no-such-file .* which no ingest announced$/);
  else {
    expect(letters[0]?.fileId).toBe("no-such-file");
    expect(reason).toMatch(new RegExp(`^staged chunk \\d+ of file no-such-file is gone \\(${cloud}:staging/`));
  }
});
