/**
 * Events fuzzed on every subject a worker or the orchestrator consumes, on a real pipeline: random
 * bytes, JSON of wrong shapes, huge and negative numbers, hashes that are not hex, keys outside
 * `chunks/` and `staging/`, oversized payloads and headers, `chunks.placed` / `chunks.verified`
 * for chunks never placed (naming real file ids), staging collections of files in flight, and
 * duplicates of real events. Seeded and replayable: the seed is printed, FERRY_FUZZ_SEED replays it.
 *
 * Afterwards: every worker is the same process, every object that existed is still there with the
 * same bytes and nothing new exists but the good files' own, no replica is recorded verified that
 * does not hold its chunk's bytes, nothing the fuzz named is complete, the bad events were
 * dead-lettered with a reason or dropped, and the good files published alongside completed. An
 * event bigger than a cloud's stream takes (MAX_EVENT_BYTES) is refused at publish, and no server
 * ever closed a link for a message too big (it did, every 3 s, before the streams had that limit).
 */
import { createHash, randomInt } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reassemble } from "../../client/reassemble.ts";
import { replicaKey } from "../../shared/chunk-keys.ts";
import { type ChunkRecord, chunkKey, type FileRecord, readFileRecord, readJson } from "../../shared/manifest.ts";
import { cloudStream, EVENTS_STREAM } from "../../shared/stream-names.ts";
import { collectSubject, INGEST_REQUESTS, ingestSubject } from "../../shared/subjects.ts";
import { MAX_EVENT_BYTES } from "../../streams/definitions.ts";
import { waitForDrain } from "../helpers/drain.ts";
import { EventFuzzer, type RealChunk } from "../helpers/event-fuzz.ts";
import { sha256File, writeRandomFile } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { finished } from "../helpers/pipeline-files.ts";

const CLOUDS = ["aws", "gcp", "azure"];
const SEED = Number(process.env.FERRY_FUZZ_SEED ?? randomInt(2 ** 31));
const MESSAGES = Number(process.env.FERRY_FUZZ_MESSAGES ?? 300);
const RESIDENT = ["resident-file-1", "resident-file-2"];
const GOOD = ["good-file-1", "good-file-2", "good-file-3"];

let t: TestPipeline;

beforeAll(async () => {
  console.log(`event fuzz seed ${SEED} (replay: FERRY_FUZZ_SEED=${SEED})`);
  t = await startTestPipeline();
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

function ingest(fileId: string, size: number): string {
  const path = join(t.dir, `${fileId}.bin`);
  writeRandomFile(path, size);
  t.nc.publish("files.ingest", JSON.stringify({ fileId, path }));
  return path;
}

/** Every object in every store, with the SHA-256 of its bytes: `<cloud>:<key>` -> hash. */
async function snapshotStores(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [cloud, store] of t.stores)
    for await (const o of store.list("")) {
      const h = createHash("sha256");
      for await (const p of await store.get(o.key)) h.update(p as Uint8Array);
      out.set(`${cloud}:${o.key}`, h.digest("hex"));
    }
  return out;
}

async function chunksOf(fileId: string): Promise<ChunkRecord[]> {
  const f = await readFileRecord(t.kv, fileId);
  const out: ChunkRecord[] = [];
  for (let i = 0; i < (f?.chunkCount ?? 0); i++) {
    const c = await readJson<ChunkRecord>(t.kv, chunkKey(fileId, i));
    if (c) out.push(c.value);
  }
  return out;
}

function workerPids(): Map<string, number | undefined> {
  return new Map([...t.pipeline.workers].map(([name, w]) => [name, w.pid]));
}

/** The hub's FILES stream's subjects: ingest requests and staging collections (any other ends at a leaf). */
const HUB_SUBJECTS = new Set([INGEST_REQUESTS, ...CLOUDS.flatMap((c) => [ingestSubject(c), collectSubject(c)])]);

/**
 * The subject's own place: the hub for FILES, a cloud's leaf for its events (`files.ingested.aws`
 * too: sent through the hub it would also test the aws leaf's link, which the fuzz does not mean to).
 */
async function publisher() {
  const leaves = new Map<string, ReturnType<typeof jetstream>>();
  for (const c of CLOUDS) leaves.set(c, jetstream(await t.leaf(c), { domain: c }));
  const hub = jetstream(t.nc, { domain: "hub" });
  return (subject: string) => {
    const leaf = leaves.get(subject.split(".").at(-1)!);
    return HUB_SUBJECTS.has(subject) || !leaf ? hub : leaf;
  };
}

/** Real events of the resident files, read back from a cloud's stream, to publish again verbatim. */
async function realEvents(cloud: string): Promise<Array<{ subject: string; data: Uint8Array }>> {
  const jsm = await jetstream(await t.leaf(cloud), { domain: cloud }).jetstreamManager();
  const info = await jsm.streams.info(cloudStream(cloud));
  const out: Array<{ subject: string; data: Uint8Array }> = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(cloudStream(cloud), { seq }).catch(() => null);
    if (m?.subject.startsWith("chunks.")) out.push({ subject: m.subject, data: m.data });
  }
  return out;
}

/** The size of a message as the server counts it against a limit: payload and headers. */
function wireBytes(payload: Uint8Array, headers: Record<string, string> = {}): number {
  return payload.length + Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 16);
}

/**
 * Publishes the fuzz, each message on its subject's own server, with a real event again every tenth.
 * A cloud's stream refuses an event over MAX_EVENT_BYTES; returns how many it refused.
 */
async function publishFuzz(resident: RealChunk[]): Promise<number> {
  let refused = 0;
  const duplicates = (await Promise.all(CLOUDS.map(realEvents))).flat();
  const fuzz = new EventFuzzer(SEED, { clouds: CLOUDS, resident, inFlight: GOOD }).messages(MESSAGES);
  const jsFor = await publisher();
  for (const [i, m] of fuzz.entries()) {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(m.headers ?? {})) h.set(k, v);
    const tooBig = !HUB_SUBJECTS.has(m.subject) && wireBytes(m.payload, m.headers) > MAX_EVENT_BYTES;
    // FILES takes any size up to max_payload; a cloud's stream refuses what is over its limit.
    const refusal = await jsFor(m.subject)
      .publish(m.subject, m.payload, { headers: h })
      .then(() => undefined)
      .catch((err: unknown) => (err as Error).message);
    if (refusal !== undefined && !(tooBig && /maximum/.test(refusal)))
      throw new Error(`seed ${SEED}, message ${i} (${m.what}) on ${m.subject}: ${refusal}`);
    if (refusal !== undefined) refused++;
    if (i % 10 === 0 && duplicates.length > 0) {
      const d = duplicates[i % duplicates.length]!;
      await jsFor(d.subject).publish(d.subject, d.data);
    }
  }
  return refused;
}

/** What the nats-servers logged about a message too big for a link (it closes the link for it). */
function payloadViolations(): string[] {
  const logs = join(t.pipeline.deployment.dataDir, "logs");
  return readdirSync(logs)
    .filter((f) => ["hub.log", ...CLOUDS.map((c) => `${c}.log`)].includes(f))
    .flatMap((f) =>
      readFileSync(join(logs, f), "utf8")
        .split("\n")
        .filter((l) => /maximum payload exceeded/i.test(l)),
    );
}

/** The file reads back from its verified replicas exactly as `path` holds it. */
async function readsBack(fileId: string, path: string): Promise<void> {
  const out = join(t.dir, `${fileId}.out`);
  await reassemble(t.kv, t.stores, fileId, out, { preference: CLOUDS });
  expect(sha256File(out), `seed ${SEED}: ${fileId} read back`).toBe(sha256File(path));
}

/** Nothing that existed was deleted or changed; nothing is new but the good files' own objects. */
function expectStoresKept(before: Map<string, string>, after: Map<string, string>): void {
  for (const [where, hash] of before) expect(after.get(where), `seed ${SEED}: ${where}`).toBe(hash);
  const ownKey = /^[a-z]+:(chunks|staging)\/good-file-\d\//;
  const added = [...after.keys()].filter((k) => !before.has(k) && !ownKey.test(k));
  expect(added, `seed ${SEED}: objects the fuzz made`).toEqual([]);
}

/** Every verified replica holds its chunk's bytes under its content key; no other file has anything complete. */
async function expectManifestHonest(objects: Map<string, string>): Promise<void> {
  for await (const key of await t.kv.keys("chunk.>")) {
    const c = (await readJson<ChunkRecord>(t.kv, key))!.value;
    for (const r of c.replicas.filter((x) => x.verified)) {
      expect(r.key, `seed ${SEED}: ${key}`).toBe(replicaKey(c.fileId, c.index, c.sha256));
      expect(objects.get(`${r.cloud}:${r.key}`), `seed ${SEED}: ${key} verified in ${r.cloud}`).toBe(c.sha256);
    }
  }
  for await (const key of await t.kv.keys("file.>")) {
    const f = (await readJson<FileRecord>(t.kv, key))!.value;
    if ([...RESIDENT, ...GOOD].includes(f.fileId)) continue;
    expect({ key, complete: f.chunksComplete, state: f.state }, `seed ${SEED}`).toMatchObject({ complete: 0 });
    expect(f.state, `seed ${SEED}: ${key}`).not.toBe("complete");
  }
}

describe("event fuzzing", () => {
  it("shrugs off hostile events on every consumed subject while good files complete", async () => {
    const residentPaths = RESIDENT.map((id, i) => ingest(id, 150_000 + i * 70_000));
    for (const id of RESIDENT) expect((await finished(t, id)).state).toBe("complete");
    await waitForDrain(t, 60_000);
    const resident = (await Promise.all(RESIDENT.map(chunksOf)))
      .flat()
      .map((c): RealChunk => ({ fileId: c.fileId, index: c.index, offset: c.offset, size: c.size, sha256: c.sha256 }));
    const before = await snapshotStores();
    const pids = workerPids();

    const started = Date.now();
    const goodPaths = GOOD.map((id, i) => ingest(id, 100_000 + i * 60_000));
    const refused = await publishFuzz(resident);
    for (const [i, id] of GOOD.entries()) {
      const f = await finished(t, id);
      expect({ id, state: f.state, reason: f.reason }, `seed ${SEED}`).toEqual({
        id,
        state: "complete",
        reason: undefined,
      });
      await readsBack(id, goodPaths[i]!);
    }
    // Forged events ahead of an event that never comes are tried for 35 s + the ack wait before the
    // orchestrator skips them (orchestrator/dispatch.ts): the drain waits that out.
    await waitForDrain(t, 150_000);
    console.log(`event fuzz: ${MESSAGES} messages, good files complete and drained in ${Date.now() - started} ms`);

    expect(workerPids(), `seed ${SEED}: a worker (or the orchestrator) is not the process it was`).toEqual(pids);
    const after = await snapshotStores();
    expectStoresKept(before, after);
    for (const [i, id] of RESIDENT.entries()) await readsBack(id, residentPaths[i]!);
    await expectManifestHonest(after);

    // Bad events were dead-lettered with a reason (the rest dropped: see the workers' logs).
    const letters = await deadLetters();
    expect(letters.length, `seed ${SEED}`).toBeGreaterThan(0);
    for (const l of letters) {
      expect(l.reason.length, JSON.stringify(l).slice(0, 300)).toBeGreaterThan(0);
      expect(GOOD, `seed ${SEED}: a dead letter that would fail a good file`).not.toContain(l.fileId);
    }
    console.log(`event fuzz: ${letters.length} dead letters, ${refused} oversized events refused by the streams`);
    // An event too big for a cloud's stream is refused at publish; none ever reached a link and cut it.
    expect(refused, `seed ${SEED}: oversized events refused`).toBeGreaterThan(0);
    expect(payloadViolations(), `seed ${SEED}: a link closed for a message too big`).toEqual([]);
  }, 360_000);
});

/** The dead letters the workers wrote (the fuzz's own messages on dead-letter subjects are not theirs). */
async function deadLetters(): Promise<Array<{ subject: string; reason: string; fileId?: string }>> {
  const jsm = await t.hubJs.jetstreamManager();
  const info = await jsm.streams.info(EVENTS_STREAM);
  const out: Array<{ subject: string; reason: string; fileId?: string }> = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(EVENTS_STREAM, { seq }).catch(() => null);
    if (!m?.subject.startsWith("deadletter.")) continue;
    let l: Record<string, unknown>;
    try {
      l = m.json<Record<string, unknown>>();
    } catch {
      continue;
    }
    if (typeof l.worker === "string" && l.worker !== "fuzz" && typeof l.streamSeq === "number")
      out.push(l as { subject: string; reason: string; fileId?: string });
  }
  return out;
}
