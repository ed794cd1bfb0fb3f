/**
 * orchestrator/projection.ts `onFileReplayed` against a real NATS KV: a replayed dead letter takes
 * its failed file back in flight so the replayed work completes it, counts each letter once, and
 * leaves a complete file as it is.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { updateJson } from "../../orchestrator/kv-update.ts";
import { onFileReplayed, type Projection } from "../../orchestrator/projection.ts";
import type { LetterReplayed } from "../../shared/events.ts";
import { type FileRecord, fileKey } from "../../shared/manifest.ts";
import { type JetStreamServer, startJetStreamServer } from "../helpers/jetstream-server.ts";
import { applyAll, applyEvent, deadLetter, fileScript, snapshot } from "../helpers/projection-script.ts";

const CLOUDS = ["gcp", "aws", "azure"];
let server: JetStreamServer;

beforeAll(async () => {
  server = await startJetStreamServer();
});
afterAll(async () => {
  await server?.stop();
});

const projection = async (): Promise<Projection> => ({ kv: await server.newKv(), defaultReplicas: 3 });

function replayed(fileId: string | undefined, letterSeq: number): LetterReplayed {
  return {
    letterSeq,
    stage: "process",
    cloud: "gcp",
    ...(fileId ? { fileId } : {}),
    subject: "chunks.ingested.gcp",
    msgId: `replay-${letterSeq}-1`,
    at: new Date().toISOString(),
  };
}

describe("a replayed dead letter", () => {
  it("takes a failed file back to processing, and the replayed work completes it", async () => {
    const s = fileScript({ fileId: "f-replay", chunks: 2, clouds: CLOUDS, replicas: 3 });
    const p = await projection();
    await applyAll(
      p,
      s.events.filter((e) => e.kind === "files.accepted" || e.kind === "files.ingested"),
    );
    await applyEvent(p, deadLetter({ ...s, index: 1, stage: "process", cloud: "gcp", reason: "bad line" }));
    expect((await snapshot(p.kv, s.fileId)).file).toMatchObject({ state: "failed" });
    await onFileReplayed(p, replayed(s.fileId, 41));
    await onFileReplayed(p, replayed(s.fileId, 41)); // redelivered: counts once
    const back = (await snapshot(p.kv, s.fileId)).file;
    expect(back).toMatchObject({ state: "processing", replays: 1, replayedLetters: [41] });
    expect(back?.reason).toBeUndefined();
    const steps = await applyAll(p, s.events);
    expect(steps.some((x) => x?.ready)).toBe(true);
  });

  it("is ready at once when the replayed work finished before the replay was projected", async () => {
    const s = fileScript({ fileId: "f-early", chunks: 1, clouds: CLOUDS, replicas: 3 });
    const p = await projection();
    await applyEvent(p, deadLetter({ ...s, index: 0, stage: "process", cloud: "gcp", reason: "x" }));
    await applyAll(p, s.events);
    expect(await onFileReplayed(p, replayed(s.fileId, 7))).toEqual({ fileId: s.fileId, ready: true });
  });

  it("goes back to ingesting when its chunk count was never known, and leaves a complete file as it is", async () => {
    const p = await projection();
    await applyEvent(p, deadLetter({ fileId: "f-lost", stage: "ingest", cloud: "aws", reason: "no such file" }));
    await onFileReplayed(p, replayed("f-lost", 3));
    expect((await snapshot(p.kv, "f-lost")).file).toMatchObject({ state: "ingesting", replays: 1 });
    const s = fileScript({ fileId: "f-done", chunks: 1, clouds: CLOUDS, replicas: 3 });
    await applyAll(p, s.events);
    await updateJson<FileRecord>(p.kv, fileKey(s.fileId), (f) => f && { ...f, state: "complete" });
    const before = await snapshot(p.kv, s.fileId);
    await onFileReplayed(p, replayed(s.fileId, 9));
    expect(await snapshot(p.kv, s.fileId)).toEqual(before);
    expect(await onFileReplayed(p, replayed(undefined, 10))).toBeUndefined();
  });
});
