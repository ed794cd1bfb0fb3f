/**
 * Objects named by URL in ingest requests (`s3://`, `gs://`, `az://`), read by the cloud whose store
 * is of that kind with that cloud's own credentials, on the local S3, GCS and Azure servers.
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openFileStream } from "../../client/file-stream.ts";
import { submitIngest } from "../../client/ingest.ts";
import { submitTarget } from "../../client/ingest-target.ts";
import { checkIngestFile } from "../../client/preflight.ts";
import { uploadToStaging } from "../../client/upload.ts";
import { SourceChangedError } from "../../shared/errors.ts";
import { encodeEvent } from "../../shared/events.ts";
import { GatewayObjects, gatewayObjects } from "../../shared/object-urls/gateway-objects.ts";
import { openIngestSource } from "../../shared/sources/open-source.ts";
import { sourcePolicy } from "../../shared/sources/source-roots.ts";
import type { BlobStore } from "../../shared/stores/types.ts";
import { ingestSubject } from "../../shared/subjects.ts";
import { eventually, sha256 } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { finished, readBack } from "../helpers/pipeline-files.ts";
import { listAll, readAll } from "../helpers/stores.ts";

const STORES = {
  aws: { kind: "s3", bucket: "ferry-src-aws", local: true },
  gcp: { kind: "gcs", bucket: "ferry-src-gcp", local: true },
  azure: { kind: "azblob", container: "ferry-src-azure", local: true },
} as const;
/** Each cloud's URL scheme and the bucket its objects sit in. */
const URLS = { aws: "s3://ferry-src-aws", gcp: "gs://ferry-src-gcp", azure: "az://ferry-src-azure" } as const;
const CLOUDS = Object.keys(STORES) as Array<keyof typeof STORES>;

let t: TestPipeline;
/** The only folder any worker may read local files from: empty, so no worker reads the client's files. */
const workerRoot = mkdtempSync(join(tmpdir(), "ferry-worker-root-"));
/** The client's own folder, outside every worker's roots. */
const clientDir = mkdtempSync(join(tmpdir(), "ferry-client-"));

beforeAll(async () => {
  t = await startTestPipeline({
    topology: { clouds: CLOUDS.map((name) => ({ name, store: STORES[name], sourceRoots: [workerRoot] })) },
  });
}, 180_000);
afterAll(async () => {
  await t?.stop();
  rmSync(workerRoot, { recursive: true, force: true });
  rmSync(clientDir, { recursive: true, force: true });
});

/** Puts `data` under `key` in `cloud`'s store (the bucket its URL names). */
async function putObject(cloud: string, key: string, data: Buffer): Promise<void> {
  await t.stores.get(cloud)!.put(key, Readable.from([data]), { overwrite: true });
}

/** Lines of JSON, so record boundaries cut the object as they cut a local .jsonl file. */
const jsonl = (bytes: number): Buffer => {
  const lines: string[] = [];
  for (let n = 0; n < bytes; n += 80) lines.push(JSON.stringify({ n, pad: randomBytes(24).toString("hex") }));
  return Buffer.from(`${lines.join("\n")}\n`);
};

describe("an object URL in an ingest request", () => {
  it.each(CLOUDS)("is streamed, chunked and replicated by the %s cloud's own workers", async (cloud) => {
    const data = jsonl(300 * 1024);
    const key = `datasets/${cloud}/train.jsonl`;
    await putObject(cloud, key, data);
    const { fileId } = await submitIngest(t.hubJs, { url: `${URLS[cloud]}/${key}` }, { cloud });
    const f = await finished(t, fileId);
    expect(f.state, f.reason).toBe("complete");
    expect(f.name).toBe("train.jsonl");
    expect(f.stagingClouds).toEqual([cloud]);
    expect(f.sha256).toBe(sha256(data));
    // 64 KiB chunks cut after a newline: more than size/64KiB chunks, every one whole records.
    expect(f.chunkCount).toBeGreaterThanOrEqual(Math.ceil(data.length / 65536));
    for (const from of CLOUDS) expect(await readBack(t, fileId, from)).toBe(sha256(data));
    await stagingCollected(t.stores.get(cloud)!, fileId);
  });

  it.each([
    ["a missing object", "aws", "missing-1", `${URLS.aws}/datasets/nothing-here.bin`, /does not exist/],
    ["a missing bucket", "gcp", "missing-2", "gs://no-such-bucket-here/x.bin", /does not exist|bucket does not exist/],
    [
      "a URL of another cloud's kind",
      "aws",
      "wrong-kind-1",
      `${URLS.gcp}/datasets/gcp/train.jsonl`,
      /cloud aws keeps its data in s3 and reads only its own kind's URLs; send the request to a cloud whose store is gcs/,
    ],
  ])("fails %s with a clear reason", async (_what, cloud, fileId, url, reason) => {
    await t.hubJs.publish(ingestSubject(cloud), encodeEvent({ fileId, url }), { msgID: `ingest:${fileId}` });
    const f = await finished(t, fileId);
    expect(f.state).toBe("failed");
    expect(f.reason).toMatch(reason);
  });

  it.each(CLOUDS)("fails clearly on %s when the object changes while it is read", async (cloud) => {
    const key = `datasets/${cloud}/changing.bin`;
    await putObject(cloud, key, randomBytes(100_000));
    const d = t.pipeline.deployment;
    const source = await openIngestSource(`${URLS[cloud]}/${key}`, {
      cloud,
      store: d.stores[cloud]!,
      roots: sourcePolicy(d, cloud),
    });
    try {
      expect(source.size).toBe(100_000);
      expect((await readAll(source.range(0, 1000))).length).toBe(1000);
      await putObject(cloud, key, randomBytes(100_000));
      const err = await readAll(source.range(1000, 2000)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SourceChangedError);
      expect((err as Error).message).toContain(`source ${URLS[cloud]}/${key} changed while it was being read`);
      await expect(source.assertUnchanged()).rejects.toThrow(SourceChangedError);
    } finally {
      await source.close();
    }
  });
});

describe("a file uploaded from the client's disk", () => {
  it.each(CLOUDS)("is cut and written into %s's staging by the client, then completes everywhere", async (cloud) => {
    const path = join(clientDir, `upload-${cloud}.jsonl`);
    const data = jsonl(250 * 1024);
    writeFileSync(path, data);
    const session = { hubJs: t.hubJs, stores: t.stores, deployment: t.pipeline.deployment };
    const target = { source: await checkIngestFile(path), cloud, name: `upload-${cloud}.jsonl`, upload: true };
    // The upload journal in the test's folder, not this user's state folder.
    const { fileId } = await submitTarget(session, target, {}, { journalDir: join(clientDir, "journals") });
    const f = await finished(t, fileId);
    expect(f.state, f.reason).toBe("complete");
    expect(f.stagingClouds).toEqual([cloud]);
    expect(f.sha256).toBe(sha256(data));
    expect(f.chunkCount).toBeGreaterThanOrEqual(Math.ceil(data.length / 65536));
    for (const from of CLOUDS) expect(await readBack(t, fileId, from)).toBe(sha256(data));
    await stagingCollected(t.stores.get(cloud)!, fileId);
  });

  it.each(CLOUDS)(
    "goes into %s's staging through upload URLs from its gateway, and reads back through every cloud's gateway",
    async (cloud) => {
      const path = join(clientDir, `gateway-upload-${cloud}.jsonl`);
      const data = jsonl(200 * 1024);
      writeFileSync(path, data);
      // No store is opened here: every byte goes through a URL a gateway issued over the hub.
      const objects = gatewayObjects(t.nc, CLOUDS);
      const session = { hubJs: t.hubJs, stores: objects, deployment: t.pipeline.deployment };
      const target = { source: await checkIngestFile(path), cloud, name: `gateway-${cloud}.jsonl`, upload: true };
      const { fileId } = await submitTarget(session, target, {});
      const f = await finished(t, fileId);
      expect(f.state, f.reason).toBe("complete");
      expect(f.stagingClouds).toEqual([cloud]);
      expect(f.sha256).toBe(sha256(data));
      for (const from of CLOUDS) {
        const { stream } = await openFileStream(t.kv, objects, fileId, { preference: [from], from });
        expect(sha256(await readAll(stream)), from).toBe(sha256(data));
      }
    },
  );

  it("fails clearly, before anything is announced, when the file changes while it is uploaded", async () => {
    const path = join(clientDir, "growing.bin");
    writeFileSync(path, randomBytes(200 * 1024));
    const real = t.stores.get("aws")!;
    // The real store, with the file growing behind the reader's back after its first chunk is written.
    const staging: BlobStore = Object.create(real, {
      put: {
        value: async (...args: Parameters<BlobStore["put"]>) => {
          const put = await real.put(...args);
          appendFileSync(path, "more");
          return put;
        },
      },
    });
    const err = await uploadToStaging(staging, "changing-upload-1", path, {
      chunkSize: 64 * 1024,
      recordBoundaries: false,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceChangedError);
    expect((err as Error).message).toContain(`source ${path} changed while it was being read`);
  });

  it("fails the same way through upload URLs: the body's own error, not a store outage", async () => {
    const path = join(clientDir, "growing-via-gateway.bin");
    writeFileSync(path, randomBytes(200 * 1024));
    const real = new GatewayObjects(t.nc, "azure");
    const staging = {
      put: async (...args: Parameters<GatewayObjects["put"]>) => {
        const put = await real.put(...args);
        appendFileSync(path, "more");
        return put;
      },
    };
    const err = await uploadToStaging(staging, "changing-upload-2", path, {
      chunkSize: 64 * 1024,
      recordBoundaries: false,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceChangedError);
  });

  it("fails a request whose uploaded chunks are not in staging, naming the chunk", async () => {
    const fileId = "upload-missing-1";
    const uploaded = { size: 10, sha256: "a".repeat(64), chunks: [{ offset: 0, size: 10, sha256: "b".repeat(64) }] };
    await t.hubJs.publish(ingestSubject("gcp"), encodeEvent({ fileId, name: "lost.bin", uploaded }), {
      msgID: `ingest:${fileId}`,
    });
    const f = await finished(t, fileId);
    expect(f.state).toBe("failed");
    expect(f.reason).toMatch(
      /uploaded chunk 0 of lost.bin is missing in gcp's staging \(staging\/upload-missing-1\/0\): upload the file again/,
    );
  });
});

/** The cloud's own workers delete a finished file's staging shortly after it completes. */
async function stagingCollected(store: BlobStore, fileId: string): Promise<void> {
  const left = async () => ((await listAll(store, `staging/${fileId}/`)).length === 0 ? true : undefined);
  await eventually(left, 15_000, `the staging of ${fileId} collected`);
}
