/**
 * The pipeline as any NATS client sees it: raw ingest requests, malformed ones, repeated publishes
 * and redelivered events, on real servers and worker processes.
 */

import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForFiles } from "../../client/ingest.ts";
import { reassemble } from "../../client/reassemble.ts";
import { replicaKey } from "../../shared/chunk-keys.ts";
import {
  type ChunkRecord,
  chunkKey,
  type FileRecord,
  fileKey,
  listFileRecords,
  readFileRecord,
  readJson,
} from "../../shared/manifest.ts";
import { EVENTS_STREAM } from "../../shared/stream-names.ts";
import { fsRoot } from "../../shared/topology/deployment.ts";
import { chunkSummary, expectedChunks, replicaNames } from "../helpers/chunks.ts";
import { waitForDrain } from "../helpers/drain.ts";
import { eventually, listFiles, sha256, sha256File, writeRandomFile } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";

let t: TestPipeline;
const CLOUDS = ["aws", "gcp", "azure"];

beforeAll(async () => {
  t = await startTestPipeline();
});
afterAll(async () => {
  await t?.stop();
});

const byName = async (name: string): Promise<FileRecord | undefined> =>
  (await listFileRecords(t.kv)).find((f) => f.name === name);
const complete = (name: string) =>
  eventually(
    async () => {
      const f = await byName(name);
      return f?.state === "complete" || f?.state === "failed" ? f : undefined;
    },
    60_000,
    `${name} to finish`,
  );

async function readBack(f: FileRecord): Promise<string> {
  const out = join(t.dir, `back-${f.fileId}`);
  await reassemble(t.kv, t.stores, f.fileId, out, { preference: CLOUDS });
  return sha256File(out);
}

async function deadLetters(): Promise<Array<{ eventSubject: string; reason: string; fileId?: string }>> {
  const jsm = await jetstream(t.nc, { domain: "hub" }).jetstreamManager();
  const out: Array<{ eventSubject: string; reason: string; fileId?: string }> = [];
  const info = await jsm.streams.info(EVENTS_STREAM);
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(EVENTS_STREAM, { seq }).catch(() => null);
    if (m?.subject.startsWith("deadletter."))
      out.push({ ...m.json<{ reason: string; fileId?: string }>(), eventSubject: m.subject });
  }
  return out;
}

/** A file's manifest entries, values and KV revisions: its file record and every chunk record. */
async function manifestEntries(fileId: string) {
  const file = await readJson<FileRecord>(t.kv, fileKey(fileId));
  if (!file) throw new Error(`no manifest record for file ${fileId}`);
  const chunks: Array<{ value: ChunkRecord; revision: number }> = [];
  for (let i = 0; i < (file.value.chunkCount ?? 0); i++) {
    const c = await readJson<ChunkRecord>(t.kv, chunkKey(fileId, i));
    if (!c) throw new Error(`no manifest record for chunk ${i} of file ${fileId}`);
    chunks.push(c);
  }
  return { file, chunks };
}

/**
 * Publishes every chunk event of the file again into its cloud, with fresh message ids: what a
 * redelivery beyond the duplicate window looks like to every stage and to the orchestrator.
 * Returns the kind of each event replayed (ingested, processed, placed, verified).
 */
async function replayChunkEvents(fileId: string): Promise<string[]> {
  const jsm = await t.hubJs.jetstreamManager();
  const info = await jsm.streams.info(EVENTS_STREAM);
  const kinds: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(EVENTS_STREAM, { seq }).catch(() => null);
    if (!m?.subject.startsWith("chunks.") || m.json<{ fileId: string }>().fileId !== fileId) continue;
    const [, kind, cloud] = m.subject.split(".");
    await jetstream(await t.leaf(cloud!)).publish(m.subject, m.data, { msgID: `replay-${seq}` });
    kinds.push(kind!);
  }
  return kinds;
}

function countBy(xs: string[]): Record<string, number> {
  const n: Record<string, number> = {};
  for (const x of xs) n[x] = (n[x] ?? 0) + 1;
  return n;
}

describe("any NATS client can ingest", () => {
  it("processes a plain JSON request published to files.ingest like one from the CLI", async () => {
    const path = join(t.dir, "raw-request.bin");
    const sha = writeRandomFile(path, 3 * 64 * 1024 + 5);
    t.nc.publish("files.ingest", JSON.stringify({ path }));
    const f = await complete("raw-request.bin");
    expect(f.state).toBe("complete");
    expect(f.sha256).toBe(sha);
    expect(f.chunkCount).toBe(4);
    expect(await readBack(f)).toBe(sha);
  });
});

describe("malformed requests", () => {
  it("dead-letters requests that are not JSON, lack fields or name a missing file, and keeps working", async () => {
    t.nc.publish("files.ingest", "this is not json");
    t.nc.publish("files.ingest", JSON.stringify({ name: "no-path" }));
    t.nc.publish(
      "files.ingest",
      JSON.stringify({ fileId: "missing-source-1", path: join(t.dir, "does-not-exist.bin") }),
    );
    const failed = await eventually(
      async () => {
        const f = await readFileRecord(t.kv, "missing-source-1");
        return f?.state === "failed" ? f : undefined;
      },
      30_000,
      "the missing-source file to fail",
    );
    expect(failed.reason).toMatch(/does-not-exist\.bin does not exist/);
    const letters = await eventually(
      async () => {
        const dl = await deadLetters();
        return dl.length >= 3 ? dl : undefined;
      },
      30_000,
      "three dead letters",
    );
    const reasons = letters.map((l) => l.reason).join("\n");
    expect(reasons).toMatch(/ingest request is not JSON/);
    expect(reasons).toMatch(/ingest request lacks field "path"/);
    expect(letters.filter((l) => !l.eventSubject.startsWith("deadletter.ingest."))).toEqual([]);
    // The pipeline is unharmed: a good file still goes through.
    const path = join(t.dir, "after-bad-input.bin");
    const sha = writeRandomFile(path, 1000);
    t.nc.publish("files.ingest", JSON.stringify({ path }));
    const f = await complete("after-bad-input.bin");
    expect(f.state).toBe("complete");
    expect(await readBack(f)).toBe(sha);
  });
});

describe("self-repair", () => {
  it("replaces a replica found corrupt by verify and completes the file with good bytes", async () => {
    // A damaged object already sits under the final key of chunk 0 on gcp, with the right size:
    // place trusts it (create-only, size matches), verify must catch it, delete it and re-place.
    const path = join(t.dir, "repaired.bin");
    const data = randomBytes(64 * 1024 + 9);
    writeFileSync(path, data);
    const chunk0 = data.subarray(0, 64 * 1024);
    const key = replicaKey("repair-me-1", 0, sha256(chunk0));
    const gcpObject = join(fsRoot(t.pipeline.deployment, "gcp"), key);
    mkdirSync(dirname(gcpObject), { recursive: true });
    writeFileSync(gcpObject, Buffer.alloc(chunk0.length, 7));
    t.nc.publish("files.ingest", JSON.stringify({ fileId: "repair-me-1", path }));
    const files = await waitForFiles(t.kv, ["repair-me-1"], () => undefined, 60_000);
    expect(files.get("repair-me-1")!.state).toBe("complete");
    expect(sha256(readFileSync(gcpObject))).toBe(sha256(chunk0));
    const out = join(t.dir, "repaired.back");
    await reassemble(t.kv, t.stores, "repair-me-1", out, { preference: ["gcp"], from: "gcp" });
    expect(sha256File(out)).toBe(sha256(data));
  });
});

describe("idempotency", () => {
  it("treats a request published twice with the same message id as one file", async () => {
    const path = join(t.dir, "twice.bin");
    writeRandomFile(path, 70_000);
    const req = JSON.stringify({ fileId: "published-twice", path });
    const a = await t.hubJs.publish("files.ingest", req, { msgID: "ingest:published-twice" });
    const b = await t.hubJs.publish("files.ingest", req, { msgID: "ingest:published-twice" });
    expect(a.duplicate).toBe(false);
    expect(b.duplicate).toBe(true);
    await waitForFiles(t.kv, ["published-twice"], () => undefined, 60_000);
    const files = (await listFileRecords(t.kv)).filter((f) => f.name === "twice.bin");
    expect(files.map((f) => f.state)).toEqual(["complete"]);
  });

  it("changes nothing when a file's events are delivered again after it completed", async () => {
    const path = join(t.dir, "redelivered.bin");
    const data = randomBytes(5 * 64 * 1024);
    writeFileSync(path, data);
    t.nc.publish("files.ingest", JSON.stringify({ fileId: "redelivered-1", path }));
    await waitForFiles(t.kv, ["redelivered-1"], () => undefined, 60_000);
    await waitForDrain(t);
    const before = await manifestEntries("redelivered-1");
    // What the records must say, derived from the source bytes: the comparison below is not between two empty lists.
    expect(before.file.value).toMatchObject({
      state: "complete",
      chunkCount: 5,
      chunksComplete: 5,
      sha256: sha256(data),
    });
    const want = expectedChunks("redelivered-1", data, 64 * 1024, CLOUDS);
    expect(want.length).toBe(5);
    expect(before.chunks.map((c) => chunkSummary(c.value))).toEqual(want);
    const objectsBefore = CLOUDS.map((c) =>
      listFiles(join(fsRoot(t.pipeline.deployment, c), "chunks", "redelivered-1")),
    );
    expect(objectsBefore).toEqual(CLOUDS.map(() => replicaNames(want)));
    const hubEventsBefore = (await (await t.hubJs.jetstreamManager()).streams.info(EVENTS_STREAM)).state.messages;

    const replayed = await replayChunkEvents("redelivered-1");
    expect(countBy(replayed)).toEqual({ ingested: 5, processed: 5, placed: 15, verified: 15 });
    // Every stage and the orchestrator work through the replayed events (and whatever the stages publish in turn).
    await waitForDrain(t);
    const hubEventsAfter = (await (await t.hubJs.jetstreamManager()).streams.info(EVENTS_STREAM)).state.messages;
    expect(hubEventsAfter - hubEventsBefore).toBeGreaterThanOrEqual(replayed.length);

    // Not one manifest entry of the file was written again: same values, same revisions.
    expect(await manifestEntries("redelivered-1")).toEqual(before);
    expect(CLOUDS.map((c) => listFiles(join(fsRoot(t.pipeline.deployment, c), "chunks", "redelivered-1")))).toEqual(
      objectsBefore,
    );
    expect(await readBack(before.file.value)).toBe(sha256(data));
  });
});
