/**
 * Where an ingest delivered again goes on from, read from a manifest bucket on a real nats-server: the
 * run of chunks staged in this cloud from chunk 0, checked against the source as it is now.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StorageType } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import type { WorkerContext } from "../../runtime/context.ts";
import { SourceChangedError } from "../../shared/errors.ts";
import { chunkKey, fileKey } from "../../shared/manifest.ts";
import { openOwnFile } from "../../shared/sources/local-file.ts";
import type { IngestSource } from "../../shared/sources/source.ts";
import { MANIFEST_BUCKET } from "../../shared/stream-names.ts";
import type { IngestRequest } from "../../stages/ingest/request.ts";
import { findResumePoint } from "../../stages/ingest/resume.ts";
import { type JetStreamServer, startJetStreamServer } from "../helpers/jetstream-server.ts";

const CHUNK = 1000;
const dir = mkdtempSync(join(tmpdir(), "ferry-resume-point-"));
const path = join(dir, "data.bin");
const data = randomBytes(5 * CHUNK + 10);
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const req = { fileId: "resume-point-1", chunkSize: CHUNK } as IngestRequest;

let server: JetStreamServer;
let kv: KV;
let ctx: WorkerContext;
let source: IngestSource;
let fileNo = 0;

beforeAll(async () => {
  server = await startJetStreamServer();
  kv = await new Kvm(server.js).create(MANIFEST_BUCKET, { history: 1, storage: StorageType.Memory });
  ctx = { cloud: "aws", nc: server.nc, topology: { hubDomain: "hub" } } as unknown as WorkerContext;
}, 60_000);
afterAll(async () => {
  await source?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  await source?.close();
  req.fileId = `resume-point-${++fileNo}`;
  writeFileSync(path, data);
  source = await openOwnFile(path);
});

/** Writes the file's record and chunk records 0..n-1 as the orchestrator would (chunk `i` staged in `clouds[i]`). */
async function recorded(n: number, file: Record<string, unknown> = {}, clouds: string[] = []): Promise<void> {
  await kv.put(
    fileKey(req.fileId),
    JSON.stringify({ fileId: req.fileId, size: data.length, chunksIngested: n, ...file }),
  );
  for (let i = 0; i < n; i++) {
    const bytes = data.subarray(i * CHUNK, (i + 1) * CHUNK);
    const staging = [{ cloud: clouds[i] ?? "aws", store: "fs", bucket: "b", key: `staging/${req.fileId}/${i}` }];
    const record = { fileId: req.fileId, index: i, offset: i * CHUNK, size: CHUNK, sha256: sha(bytes), staging };
    await kv.put(chunkKey(req.fileId, i), JSON.stringify(record));
  }
}

const resume = () => findResumePoint(ctx, req, source, new AbortController().signal);

it("goes on after the chunks staged in this cloud from chunk 0", async () => {
  await recorded(3);
  const point = await resume();
  expect(point).toEqual({
    from: { index: 3, offset: 3 * CHUNK },
    staged: [0, 1, 2].map((i) => ({
      offset: i * CHUNK,
      size: CHUNK,
      sha256: sha(data.subarray(i * CHUNK, (i + 1) * CHUNK)),
    })),
  });
});

it("stops at a chunk staged in another cloud, and has nothing to go on from without records", async () => {
  await recorded(3, {}, ["aws", "gcp", "aws"]);
  expect(await resume()).toMatchObject({ from: { index: 1, offset: CHUNK } });
  req.fileId = "resume-point-none";
  expect(await resume()).toBeUndefined();
});

it("does nothing when an earlier delivery announced the whole file", async () => {
  await recorded(6, { chunkCount: 6 });
  expect(await resume()).toBe("ingested");
});

it("refuses a source whose size, version or last staged chunk changed since", async () => {
  await recorded(3, { size: data.length + 1 });
  await expect(resume()).rejects.toThrow(/its size went from 5011 to 5010 bytes/);

  await recorded(3, { sourceVersion: "file:1:2:5010:0" });
  await expect(resume()).rejects.toThrow(SourceChangedError);
  await expect(resume()).rejects.toThrow(`it was file:1:2:5010:0, it is ${source.version} now`);
  await recorded(3, { sourceVersion: source.version });
  expect(await resume()).toMatchObject({ from: { index: 3 } });

  await recorded(3);
  const changed = Buffer.from(data);
  changed.writeUInt8(changed.readUInt8(2 * CHUNK + 5) ^ 0xff, 2 * CHUNK + 5);
  writeFileSync(path, changed);
  await expect(resume()).rejects.toThrow(
    `source ${path} changed since an interrupted ingest of it began (chunk 2 (bytes 2000-2999) differs): ingest it again as a new file`,
  );
});

it("starts afresh on a record a dead letter made before any delivery was accepted (a replayed request)", async () => {
  // The orchestrator's record of a file it only knows failed: no size, no chunk size, nothing staged.
  await recorded(0, { name: "", size: 0, chunkSize: 0, state: "failed" });
  expect(await resume()).toBeUndefined();
});
