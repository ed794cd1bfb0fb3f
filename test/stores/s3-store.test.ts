import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { setTimeout } from "node:timers/promises";
import {
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ChecksumMismatchError,
  ConfigError,
  InputError,
  ObjectExistsError,
  StoreAccessError,
  StoreUnavailableError,
} from "../../shared/errors.ts";
import { pollUntil } from "../../shared/retry.ts";
import { openStore } from "../../shared/stores/open-store.ts";
import { LOCAL_S3_CREDENTIALS, LOCAL_S3_REGION, localS3Endpoint } from "../../shared/stores/s3/local-server.ts";
import { S3Store, type S3StoreOptions } from "../../shared/stores/s3/s3-store.ts";
import type { BlobStore } from "../../shared/stores/types.ts";
import { startLocalStoreServer } from "../../supervisor/local-stores.ts";
import { freePort } from "../../supervisor/ports.ts";
import type { ServerProcess } from "../../supervisor/server-process.ts";
import { startToxiproxy } from "../../supervisor/toxiproxy.ts";
import { sha256 } from "../helpers/files.ts";
import { chunked, listAll, readAll } from "./helpers.ts";

const MIB = 1024 * 1024;
const CONFORMANCE_BUCKET = "ferry-conformance";
const BUCKET = "ferry-aws";

let dir = "";
let server: ServerProcess | undefined;
let endpoint = "";
/** Looks at the bucket behind the store's back, as a user with the AWS CLI would. */
let inspect: S3Client | undefined;
const stores: BlobStore[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ferry-s3-"));
  const port = await freePort();
  endpoint = localS3Endpoint(port);
  server = await startLocalStoreServer("s3", {
    port,
    dataDir: join(dir, "data"),
    logFile: join(dir, "versitygw.log"),
    buckets: [CONFORMANCE_BUCKET, BUCKET],
  });
  inspect = new S3Client({
    endpoint,
    region: LOCAL_S3_REGION,
    forcePathStyle: true,
    credentials: LOCAL_S3_CREDENTIALS,
  });
});

afterAll(async () => {
  for (const store of stores) await store.close();
  inspect?.destroy();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A store on the test server, closed after the file. */
function s3(options: Partial<S3StoreOptions> = {}): S3Store {
  const store = new S3Store({
    cloud: "aws",
    bucket: BUCKET,
    region: LOCAL_S3_REGION,
    endpoint,
    local: true,
    partSizeBytes: 5 * MIB,
    ...options,
  });
  stores.push(store);
  return store;
}

describe("S3Store on versitygw", () => {
  const fresh = () => `t-${randomUUID().slice(0, 8)}`;

  async function unfinishedUploads(prefix: string): Promise<string[]> {
    const page = await inspect!.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix }));
    return (page.Uploads ?? []).map((u) => u.Key ?? "");
  }

  it("round-trips 12 MiB in 5 MiB parts byte for byte, each part carrying a SHA-256 the server checked", async () => {
    const store = s3();
    const key = `${fresh()}/big.bin`;
    const data = randomBytes(12 * MIB);
    expect(await store.put(key, chunked(data, 100_000), { expectedSha256: sha256(data) })).toEqual({
      size: data.length,
      sha256: sha256(data),
    });
    expect((await readAll(await store.get(key))).equals(data)).toBe(true);
    expect(await store.head(key)).toEqual({ key, size: data.length });
    // The server stores the checksum it verified: here a composite of three part SHA-256s.
    const head = await inspect!.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key, ChecksumMode: "ENABLED" }));
    expect(head.ChecksumSHA256).toMatch(/^[A-Za-z0-9+/]{43}=-3$/);
    expect(await unfinishedUploads(key)).toEqual([]);

    const small = randomBytes(1000);
    await store.put(`${key}.small`, chunked(small, 300));
    const smallHead = await inspect!.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: `${key}.small`, ChecksumMode: "ENABLED" }),
    );
    expect(smallHead.ChecksumSHA256).toBe(createHash("sha256").update(small).digest("base64"));
  });

  it("keeps multipart uploads create-only: one of two racing writers wins, a later one is refused, nothing is left unfinished", async () => {
    const store = s3();
    const key = `${fresh()}/raced.bin`;
    const a = randomBytes(6 * MIB);
    const b = randomBytes(6 * MIB);
    const results = await Promise.allSettled([store.put(key, chunked(a, MIB)), store.put(key, chunked(b, MIB))]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(lost?.reason).toBeInstanceOf(ObjectExistsError);
    const winner = results[0]?.status === "fulfilled" ? a : b;
    await expect(store.put(key, chunked(randomBytes(11 * MIB), MIB))).rejects.toBeInstanceOf(ObjectExistsError);
    expect((await readAll(await store.get(key))).equals(winner)).toBe(true);
    expect(await unfinishedUploads(key)).toEqual([]);

    const replacement = randomBytes(11 * MIB);
    await store.put(key, chunked(replacement, MIB), { overwrite: true });
    expect((await readAll(await store.get(key))).equals(replacement)).toBe(true);
  });

  it("versitygw refuses a body that does not match the SHA-256 sent with it", async () => {
    const put = inspect!.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: `${fresh()}/forged`,
        Body: randomBytes(1000),
        ChecksumSHA256: createHash("sha256").update("other").digest("base64"),
      }),
    );
    await expect(put).rejects.toMatchObject({ name: "BadDigest", $metadata: { httpStatusCode: 400 } });
  });

  it("publishes nothing and leaves no unfinished upload when a 12 MiB put fails its checksum", async () => {
    const store = s3();
    const key = `${fresh()}/mismatch.bin`;
    const data = randomBytes(12 * MIB);
    const wrong = sha256(randomBytes(8));
    const err = await store.put(key, chunked(data, 1 * MIB), { expectedSha256: wrong }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect(err).toMatchObject({ expected: wrong, actual: sha256(data) });
    expect((err as Error).message).toContain(`aws (s3 bucket ${BUCKET}, key ${key})`);
    expect(await store.head(key)).toBeUndefined();
    expect(await unfinishedUploads(key)).toEqual([]);
  });

  it("an abort mid-upload cancels the parts in flight on a slow link, and leaves no object and no unfinished upload", async () => {
    const toxiproxy = await startToxiproxy({ apiPort: await freePort(), logFile: join(dir, "toxiproxy.log") });
    try {
      const linkPort = await freePort();
      await toxiproxy.link("s3", linkPort, new URL(endpoint).host);
      // 1 MiB/s towards the server: each 5 MiB part would take about 5 s to finish.
      await toxiproxy.addToxic("s3", {
        name: "slow",
        type: "bandwidth",
        stream: "upstream",
        attributes: { rate: 1024 },
      });
      const store = s3({ endpoint: localS3Endpoint(linkPort) });
      const key = `${fresh()}/aborted.bin`;
      async function* stalls(): AsyncGenerator<Uint8Array> {
        yield randomBytes(11 * MIB); // two parts go up, the rest waits for more
        await new Promise(() => {});
      }
      const controller = new AbortController();
      const put = store.put(key, stalls(), { signal: controller.signal });
      put.catch(() => {});
      await pollUntil(
        "the multipart upload has begun",
        async () => (await unfinishedUploads(key)).length === 1 || "no upload yet",
        { timeoutMs: 20_000 },
      );
      await setTimeout(300);
      const reason = new Error("worker shutting down");
      const started = performance.now();
      controller.abort(reason);
      await expect(put).rejects.toBe(reason);
      expect(performance.now() - started).toBeLessThan(2_500);
      expect(await store.head(key)).toBeUndefined();
      expect(await unfinishedUploads(key)).toEqual([]);
    } finally {
      await toxiproxy.stop();
    }
  });

  it("sweepTemp aborts only unfinished uploads older than the limit; a put whose upload was swept fails retryably", async () => {
    const store = s3();
    const p = fresh();
    await inspect!.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${p}/died-mid-put` }));
    expect(await store.sweepTemp(3_600_000)).toBe(0);
    expect(await unfinishedUploads(p)).toEqual([`${p}/died-mid-put`]);
    expect(await store.sweepTemp(0)).toBe(1);
    expect(await unfinishedUploads(p)).toEqual([]);

    // A live put outlasting the limit loses its upload, fails retryably, and publishes nothing.
    const resume = Promise.withResolvers<void>();
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield randomBytes(6 * MIB);
      await resume.promise;
      yield randomBytes(1000);
    }
    const put = store.put(`${p}/slow`, slow());
    put.catch(() => {});
    await pollUntil(
      "the multipart upload has begun",
      async () => (await unfinishedUploads(p)).length === 1 || "no upload yet",
      { timeoutMs: 20_000 },
    );
    expect(await store.sweepTemp(0)).toBe(1);
    resume.resolve();
    const err = await put.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(await store.head(`${p}/slow`)).toBeUndefined();
  });

  it("lists more than one page (1000 keys) in key order", { timeout: 60_000 }, async () => {
    const store = s3();
    const p = fresh();
    const keys = Array.from({ length: 1003 }, (_, i) => `${p}/${String(i).padStart(4, "0")}`);
    for (let at = 0; at < keys.length; at += 25) {
      await Promise.all(keys.slice(at, at + 25).map((key) => store.put(key, chunked(Buffer.from(key), 64))));
    }
    const listed = await listAll(store, `${p}/`);
    expect(listed.map((o) => o.key)).toEqual(keys);
    expect(listed.every((o) => o.size === `${p}/0000`.length)).toBe(true);
  });

  it("refuses a key whose path runs through an object with InputError (a posix-backed server holds files)", async () => {
    const store = s3();
    const p = fresh();
    await store.put(`${p}/a`, chunked(randomBytes(3), 3));
    await expect(store.put(`${p}/a/b`, chunked(randomBytes(3), 3))).rejects.toBeInstanceOf(InputError);
    await expect(store.put(p, chunked(randomBytes(3), 3))).rejects.toBeInstanceOf(InputError);
    expect(await listAll(store, p)).toEqual([{ key: `${p}/a`, size: 3 }]);
  });

  describe("credentials from the SDK's default chain", () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    afterAll(() => {
      restoreEnv("AWS_ACCESS_KEY_ID", saved.id);
      restoreEnv("AWS_SECRET_ACCESS_KEY", saved.secret);
    });

    it("work when right, and give a non-retryable StoreAccessError without the secret when wrong", async () => {
      process.env.AWS_ACCESS_KEY_ID = LOCAL_S3_CREDENTIALS.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = LOCAL_S3_CREDENTIALS.secretAccessKey;
      const right = s3({ local: false });
      await right.put(`${fresh()}/from-env`, chunked(randomBytes(10), 10));

      const secret = `wrong-${randomUUID()}`;
      for (const accessKeyId of [LOCAL_S3_CREDENTIALS.accessKeyId, "nobody-knows-me"]) {
        process.env.AWS_ACCESS_KEY_ID = accessKeyId;
        process.env.AWS_SECRET_ACCESS_KEY = secret;
        const wrong = s3({ local: false });
        for (const attempt of [
          () => wrong.put(`${fresh()}/x`, chunked(randomBytes(10), 10)),
          () => listAll(wrong, ""),
        ]) {
          const err = await attempt().catch((e: unknown) => e);
          expect(err).toBeInstanceOf(StoreAccessError);
          expect((err as StoreAccessError).retryable).toBe(false);
          expect((err as Error).message).toMatch(/^(put|list) aws \(s3 bucket ferry-aws/);
          expect((err as Error).message).toContain("credentials");
          expect((err as Error).message).not.toContain(secret);
        }
      }
    });
  });

  it("names a missing bucket and the fix, as a non-retryable StoreAccessError from every operation", async () => {
    const store = s3({ bucket: "ferry-no-such-bucket" });
    const attempts: (() => Promise<unknown>)[] = [
      () => store.put("k", chunked(randomBytes(10), 10)),
      () => store.get("k"),
      () => store.head("k"),
      () => store.delete("k"),
      () => listAll(store, ""),
      () => store.sweepTemp(0),
    ];
    for (const attempt of attempts) {
      const err = await attempt().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreAccessError);
      expect((err as Error).message).toContain("s3 bucket ferry-no-such-bucket");
      expect((err as Error).message).toContain("Fix: create it");
    }
  });

  it("rejects a malformed expectedSha256 and a body that yields strings with InputError, publishing nothing", async () => {
    const store = s3();
    const key = `${fresh()}/bad-input`;
    await expect(store.put(key, chunked(randomBytes(10), 10), { expectedSha256: "abc" })).rejects.toThrow(
      /expectedSha256 "abc" is not 64 hex digits/,
    );
    async function* text(): AsyncGenerator<string> {
      yield "hello";
    }
    await expect(store.put(key, text() as unknown as AsyncIterable<Uint8Array>)).rejects.toBeInstanceOf(InputError);
    expect(await store.head(key)).toBeUndefined();
  });

  it("refuses bad options with ConfigError, and openStore opens an S3Store", () => {
    const spec = { cloud: "aws", bucket: BUCKET, region: LOCAL_S3_REGION, endpoint };
    expect(() => new S3Store({ ...spec, partSizeBytes: 1 * MIB })).toThrow(/partSizeBytes/);
    expect(() => new S3Store({ ...spec, endpoint: "not a url" })).toThrow(ConfigError);
    expect(() => new S3Store({ ...spec, endpoint: undefined, local: true })).toThrow(ConfigError);
    expect(() => new S3Store({ ...spec, bucket: "" })).toThrow(ConfigError);
    const store = openStore({ ...spec, kind: "s3", local: true });
    stores.push(store);
    expect(store).toBeInstanceOf(S3Store);
    expect([store.kind, store.cloud, store.bucket]).toEqual(["s3", "aws", BUCKET]);
  });

  // Last: it stops the server.
  it("fails retryably within a bounded time while the server is down, and finds earlier objects when it is back", async () => {
    const store = s3();
    const key = `${fresh()}/kept`;
    const data = randomBytes(2000);
    await store.put(key, chunked(data, 500));
    await server!.stop();

    const started = performance.now();
    // A body the upload gives up on midway is released (Upload ends its iteration), not left open.
    const large = Readable.from(chunked(randomBytes(40 * MIB), MIB));
    const attempts: (() => Promise<unknown>)[] = [
      () => store.put(`${key}-2`, chunked(randomBytes(10), 10)),
      () => store.put(`${key}-3`, large),
      () => store.get(key),
      () => store.head(key),
      () => listAll(store, ""),
    ];
    for (const attempt of attempts) {
      const err = await attempt().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as StoreUnavailableError).retryable).toBe(true);
      expect((err as Error).message).toContain(`aws (s3 bucket ${BUCKET}`);
    }
    expect(performance.now() - started).toBeLessThan(60_000);
    expect(large.destroyed).toBe(true);

    await server!.start();
    expect((await readAll(await store.get(key))).equals(data)).toBe(true);
    await store.put(`${key}-2`, chunked(randomBytes(10), 10));
    expect(await store.head(`${key}-2`)).toEqual({ key: `${key}-2`, size: 10 });
  });
});

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
