/**
 * orchestrator/projection.ts against a real NATS KV: events in order, out of order and twice; files
 * that already completed or failed; chunks with fewer verified replicas than wanted; stage times
 * counted once per chunk. Every test gets its own in-memory bucket on one nats-server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { updateJson } from "../../orchestrator/kv-update.ts";
import type { NextStep, Projection } from "../../orchestrator/projection.ts";
import { type FileRecord, fileKey } from "../../shared/manifest.ts";
import { type JetStreamServer, startJetStreamServer } from "../helpers/jetstream-server.ts";
import {
  applyAll,
  applyEvent,
  deadLetter,
  type FileScript,
  fileScript,
  normalised,
  type ScriptEvent,
  snapshot,
} from "../helpers/projection-script.ts";

const CLOUDS = ["gcp", "aws", "azure"];
let server: JetStreamServer;

beforeAll(async () => {
  server = await startJetStreamServer();
});
afterAll(async () => {
  await server?.stop();
});

async function projection(defaultReplicas = 3): Promise<Projection> {
  return { kv: await server.newKv(), defaultReplicas };
}

const script = (chunks = 3, replicas = 3, fileId = "f-0001"): FileScript =>
  fileScript({ fileId, chunks, clouds: CLOUDS, replicas });

/** The records a clean, in-order run leaves, to compare other orders against. */
async function cleanRun(s: FileScript): Promise<unknown> {
  const p = await projection();
  await applyAll(p, s.events);
  return normalised(await snapshot(p.kv, s.fileId));
}

const readies = (steps: NextStep[]): number[] => steps.flatMap((s, i) => (s?.ready ? [i] : []));

/** Merges sequences into one, keeping each sequence's own order, picking the next one by a seeded generator. */
function interleave<T>(seqs: T[][], seed: number): T[] {
  let x = seed;
  const next = () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x / 2 ** 32;
  };
  const queues = seqs.map((q) => [...q]);
  const out: T[] = [];
  for (let live = queues.filter((q) => q.length); live.length; live = queues.filter((q) => q.length))
    out.push((live[Math.floor(next() * live.length)] as T[]).shift() as T);
  return out;
}

describe("a clean run in order", () => {
  it("counts each chunk once all its replicas are verified and says ready on the last one", async () => {
    const s = script();
    const p = await projection();
    const steps = await applyAll(p, s.events);
    expect(readies(steps)).toEqual([s.events.length - 1]);
    const { file, chunks } = await snapshot(p.kv, s.fileId);
    expect(file).toMatchObject({ state: "processing", chunkCount: 3, chunksIngested: 3, chunksComplete: 3 });
    expect(file?.completeBitmap).toBe(Buffer.from([0b111]).toString("base64"));
    expect(file?.stagingClouds).toEqual(["gcp"]);
    expect(chunks.map((c) => c.replicas.filter((r) => r.verified).map((r) => r.cloud))).toEqual([
      CLOUDS,
      CLOUDS,
      CLOUDS,
    ]);
    // Per chunk the slowest replica counts for place and verify; the file adds up its chunks once.
    expect(chunks[1]?.stageMs).toEqual({ ingest: 11, process: 21, place: 51, verify: 51 });
    expect(file?.stageMs).toEqual(s.stageMs);
  });
});

describe("duplicates", () => {
  it("changes no record and writes nothing when any event is applied a second time", async () => {
    const s = script();
    const p = await projection();
    for (const e of s.events) {
      const first = await applyEvent(p, e);
      const once = await snapshot(p.kv, s.fileId);
      const again = await applyEvent(p, e);
      expect(await snapshot(p.kv, s.fileId), `${e.kind} applied twice`).toEqual(once);
      expect(again).toEqual(first);
    }
    expect(normalised(await snapshot(p.kv, s.fileId))).toEqual(await cleanRun(s));
  });

  it("changes nothing when the whole history is replayed after the run", async () => {
    const s = script();
    const p = await projection();
    await applyAll(p, s.events);
    const before = await snapshot(p.kv, s.fileId);
    await applyAll(p, s.events);
    expect(await snapshot(p.kv, s.fileId)).toEqual(before);
  });

  it("does not count a chunk again when a replica is verified again with other figures", async () => {
    const s = script(1);
    const p = await projection();
    await applyAll(p, s.events);
    const last = s.events.at(-1) as Extract<ScriptEvent, { kind: "chunks.verified" }>;
    const later = { ...last.e, at: "2030-01-02T00:00:00.000Z", durationMs: 5000 };
    expect(await applyEvent(p, { kind: "chunks.verified", e: later })).toEqual({ fileId: s.fileId, ready: true });
    const { file } = await snapshot(p.kv, s.fileId);
    expect(file).toMatchObject({ chunksComplete: 1, stageMs: s.stageMs });
  });
});

describe("out of order", () => {
  it("counts chunks verified before the file was accepted, and is ready once the file is ingested", async () => {
    const s = script();
    const [accepted, ...rest] = s.events;
    const fileIngested = rest.find((e) => e.kind === "files.ingested") as ScriptEvent;
    const order = [...s.chunkEvents.flat(), accepted as ScriptEvent, fileIngested];
    const p = await projection();
    const steps = await applyAll(p, order);
    expect(readies(steps)).toEqual([order.length - 1]);
    expect(normalised(await snapshot(p.kv, s.fileId))).toEqual(await cleanRun(s));
  });

  it("takes a file ingested before any of its chunks, and is ready on the last verified replica", async () => {
    const s = script();
    const fileEvents = s.events.filter((e) => e.kind.startsWith("files."));
    const order = [...fileEvents, ...s.chunkEvents.flat()];
    const p = await projection();
    const steps = await applyAll(p, order);
    expect(readies(steps)).toEqual([order.length - 1]);
    expect(normalised(await snapshot(p.kv, s.fileId))).toEqual(await cleanRun(s));
  });

  it("ends in the same records whatever the interleaving of chunks and file events", async () => {
    const s = script(4);
    const expected = await cleanRun(s);
    const fileEvents = s.events.filter((e) => e.kind.startsWith("files.")).map((e) => [e]);
    for (const seed of [1, 7, 42]) {
      const order = interleave([...s.chunkEvents, ...fileEvents], seed);
      const p = await projection();
      const steps = await applyAll(p, order);
      expect(readies(steps), `seed ${seed}`).toHaveLength(1);
      expect(normalised(await snapshot(p.kv, s.fileId)), `seed ${seed}`).toEqual(expected);
    }
  });
});

describe("replicas below R", () => {
  it("does not count a chunk with fewer verified replicas than the file wants", async () => {
    const s = script(1);
    const verified = s.events.filter((e) => e.kind === "chunks.verified");
    const p = await projection();
    const steps = await applyAll(p, s.events.slice(0, -1));
    // Two of three verified, the second twice, and the third only placed: not complete.
    await applyEvent(p, verified[1] as ScriptEvent);
    expect(readies(steps)).toEqual([]);
    const { file, chunks } = await snapshot(p.kv, s.fileId);
    expect(file).toMatchObject({
      chunksComplete: 0,
      completeBitmap: "",
      stageMs: { ingest: 0, process: 0, place: 0, verify: 0 },
    });
    expect(chunks[0]?.replicas.map((r) => [r.cloud, r.verified])).toEqual([
      ["gcp", true],
      ["aws", true],
      ["azure", false],
    ]);
    expect(await applyEvent(p, verified[2] as ScriptEvent)).toEqual({ fileId: s.fileId, ready: true });
    expect((await snapshot(p.kv, s.fileId)).file).toMatchObject({ chunksComplete: 1, stageMs: s.stageMs });
  });

  it("completes a file that wants 2 replicas on 2 verified ones", async () => {
    const s = script(2, 2);
    const p = await projection();
    const steps = await applyAll(p, s.events);
    expect(readies(steps)).toEqual([s.events.length - 1]);
    const { file, chunks } = await snapshot(p.kv, s.fileId);
    expect(file).toMatchObject({ replicas: 2, chunksComplete: 2, stageMs: s.stageMs });
    expect(chunks.map((c) => c.replicas.map((r) => r.cloud))).toEqual([
      ["gcp", "aws"],
      ["gcp", "aws"],
    ]);
  });
});

/** Marks the file complete as finalizeFile does (without its store and stream work). */
async function markComplete(p: Projection, fileId: string): Promise<void> {
  await updateJson<FileRecord>(
    p.kv,
    fileKey(fileId),
    (f) => f && { ...f, state: "complete", completedAt: "2030-01-03T00:00:00.000Z" },
  );
}

describe("files that already finished", () => {
  it("leaves a complete file as it is, and hands back the staging of a chunk ingested again", async () => {
    const s = script(2);
    const p = await projection();
    await applyAll(p, s.events);
    await markComplete(p, s.fileId);
    const done = await snapshot(p.kv, s.fileId);
    const chunk1 = s.chunkEvents[1]?.[0] as Extract<ScriptEvent, { kind: "chunks.ingested" }>;
    // Another cloud's ingest worker took the request again after the file completed.
    const late = { ...chunk1.e, cloud: "azure", staging: s.staging(1, "azure") };
    expect(await applyEvent(p, { kind: "chunks.ingested", e: late })).toEqual({
      fileId: s.fileId,
      ready: false,
      staleStaging: s.staging(1, "azure"),
    });
    const steps = await applyAll(p, [
      ...s.events,
      deadLetter({ ...s, index: 0, stage: "verify", cloud: "aws", reason: "late" }),
    ]);
    expect(readies(steps)).toEqual([]);
    const after = await snapshot(p.kv, s.fileId);
    expect(after.file).toEqual(done.file);
    expect(after.revisions[fileKey(s.fileId)]).toBe(done.revisions[fileKey(s.fileId)]);
  });

  it("fails a file on its first dead letter, keeps that reason, and never calls it ready", async () => {
    const s = script(2);
    const p = await projection();
    const reason = "line 3 of chunk 1 is not valid JSON";
    await applyAll(p, s.events.slice(0, 4));
    await applyEvent(p, deadLetter({ ...s, index: 1, stage: "process", cloud: "gcp", reason }));
    await applyEvent(p, deadLetter({ ...s, index: 0, stage: "place", cloud: "aws", reason: "a second failure" }));
    const steps = await applyAll(p, s.events);
    expect(readies(steps)).toEqual([]);
    const { file } = await snapshot(p.kv, s.fileId);
    expect(file).toMatchObject({ state: "failed", reason: `process on gcp (chunk 1): ${reason}`, chunksComplete: 2 });
  });

  it("fails a file it never saw when a dead letter names it, and ignores a dead letter without a file", async () => {
    const p = await projection();
    const noFile = deadLetter({ stage: "ingest", cloud: "aws", reason: "request is not JSON" });
    expect(await applyEvent(p, noFile)).toBeUndefined();
    expect(await snapshot(p.kv, "f-none")).toEqual({ file: undefined, chunks: [], revisions: {} });
    const reason = "source /data/x.jsonl does not exist: check the path";
    await applyEvent(p, deadLetter({ fileId: "f-lost", stage: "ingest", cloud: "aws", reason }));
    const { file } = await snapshot(p.kv, "f-lost");
    expect(file).toMatchObject({ state: "failed", reason: `ingest on aws: ${reason}`, replicas: 3 });
  });
});
