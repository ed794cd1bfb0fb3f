import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ChecksumMismatchError,
  type FerryError,
  StoreAccessError,
  StoreUnavailableError,
} from "../../shared/errors.ts";
import { pollUntil } from "../../shared/retry.ts";
import { GcsStore, type GcsStoreTuning, UPLOAD_CHUNK_BYTES } from "../../shared/stores/gcs/gcs-store.ts";
import { localGcsEndpoint } from "../../shared/stores/gcs/local-server.ts";
import { openStore } from "../../shared/stores/open-store.ts";
import { startLocalStoreServer } from "../../supervisor/local-stores.ts";
import { freePort } from "../../supervisor/ports.ts";
import type { ServerProcess } from "../../supervisor/server-process.ts";
import { sha256 } from "../helpers/files.ts";
import { chunked, listAll, readAll } from "./helpers.ts";

// A real fake-gcs-server (filesystem backend) on a free loopback port, shared by every test here.
const BUCKET = "ferry-gcp";
let dir = "";
let port = 0;
let server: ServerProcess | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ferry-gcs-"));
  port = await freePort();
  server = await startLocalStoreServer("gcs", {
    port,
    dataDir: join(dir, "data"),
    logFile: join(dir, "fake-gcs.log"),
    // The tests read its access log to see which upload requests went out.
    logRequests: true,
    buckets: [BUCKET],
  });
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function gcsStore(bucket = BUCKET, tuning?: GcsStoreTuning): GcsStore {
  return new GcsStore({ cloud: "gcp", bucket, endpoint: localGcsEndpoint(port), local: true }, tuning);
}

describe("GcsStore on fake-gcs-server", () => {
  const store = (): GcsStore => gcsStore();

  it("round-trips an object larger than one upload chunk byte for byte", { timeout: 60_000 }, async () => {
    const key = `big/${randomUUID()}`;
    const data = randomBytes(UPLOAD_CHUNK_BYTES + 4 * 1024 * 1024);
    expect(await store().put(key, chunked(data, 256 * 1024 + 3), { expectedSha256: sha256(data) })).toEqual({
      size: data.length,
      sha256: sha256(data),
    });
    expect(await store().head(key)).toEqual({ key, size: data.length });
    expect((await readAll(await store().get(key))).equals(data)).toBe(true);
  });

  it("publishes nothing when a large upload fails its checksum after the first chunk went out", {
    timeout: 60_000,
  }, async () => {
    const p = `bad-big/${randomUUID()}`;
    const data = randomBytes(UPLOAD_CHUNK_BYTES + 1024 * 1024);
    const err = await store()
      .put(`${p}/x`, chunked(data, 64 * 1024), { expectedSha256: sha256(randomBytes(8)) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    await firstChunkAccepted(`${p}/x`);
    expect(await uploadStatuses(`${p}/x`)).toEqual([308]); // the publishing request never went out
    expect(await store().head(`${p}/x`)).toBeUndefined();
    expect(await listAll(store(), p)).toEqual([]);
  });

  it("publishes nothing when a large upload is aborted after the first chunk", { timeout: 60_000 }, async () => {
    const p = `aborted-big/${randomUUID()}`;
    const sent = Promise.withResolvers<void>();
    async function* body(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 9; i++) yield randomBytes(1024 * 1024);
      sent.resolve();
      await new Promise(() => {}); // the sender hangs with more than one chunk handed over
    }
    const controller = new AbortController();
    const put = store().put(`${p}/x`, body(), { signal: controller.signal });
    put.catch(() => {});
    await sent.promise;
    await firstChunkAccepted(`${p}/x`);
    controller.abort(new Error("gave up"));
    await expect(put).rejects.toThrow("gave up");
    expect(await uploadStatuses(`${p}/x`)).toEqual([308]);
    expect(await store().head(`${p}/x`)).toBeUndefined();
    expect(await listAll(store(), p)).toEqual([]);
  });

  it("pages through a listing", async () => {
    const p = `paged/${randomUUID()}`;
    const keys = ["a", "b", "c", "d", "e"].map((k) => `${p}/${k}`);
    for (const key of keys) await store().put(key, chunked(randomBytes(3), 3));
    expect(await listAll(gcsStore(BUCKET, { listPageSize: 2 }), p)).toEqual(keys.map((key) => ({ key, size: 3 })));
  });

  it("is what openStore gives for a gcs spec", async () => {
    const opened = openStore({
      cloud: "gcp",
      kind: "gcs",
      bucket: BUCKET,
      endpoint: localGcsEndpoint(port),
      local: true,
    });
    expect(opened).toBeInstanceOf(GcsStore);
    expect([opened.kind, opened.cloud, opened.bucket]).toEqual(["gcs", "gcp", BUCKET]);
    const key = `opened/${randomUUID()}`;
    await opened.put(key, chunked(randomBytes(5), 5));
    expect(await opened.head(key)).toEqual({ key, size: 5 });
  });

  it("names a missing bucket and the fix, as a StoreAccessError that is not retried", async () => {
    const missing = gcsStore("no-such-bucket");
    const attempts: [string, () => Promise<unknown>][] = [
      ["put", () => missing.put("k", chunked(randomBytes(10), 10))],
      ["get", () => missing.get("k")],
      ["head", () => missing.head("k")],
      ["delete", () => missing.delete("k")],
      ["list", () => listAll(missing, "")],
    ];
    for (const [op, attempt] of attempts) {
      const err = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, op).toBeInstanceOf(StoreAccessError);
      expect((err as FerryError).retryable).toBe(false);
      expect((err as Error).message).toMatch(
        new RegExp(`^${op} gcp \\(gcs bucket no-such-bucket.*the bucket does not exist.*Fix: create it`),
      );
    }
  });

  it("gives up on a hung server within its timeouts, retryably, for uploads and other calls alike", {
    timeout: 60_000,
  }, async () => {
    const key = `hung/${randomUUID()}`;
    await store().put(key, chunked(randomBytes(7), 7));
    const impatient = gcsStore(BUCKET, { requestTimeoutMs: 1500 });
    const pid = server!.pid!;
    process.kill(pid, "SIGSTOP"); // still accepts connections (the kernel queues them), never answers
    try {
      const attempts: [string, () => Promise<unknown>][] = [
        ["put", () => impatient.put(`${key}-2`, chunked(randomBytes(10), 10))],
        ["head", () => impatient.head(key)],
        ["list", () => listAll(impatient, "hung/")],
      ];
      for (const [op, attempt] of attempts) {
        const started = performance.now();
        const err = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, op).toBeInstanceOf(StoreUnavailableError);
        expect((err as Error).message).toMatch(new RegExp(`^${op} gcp \\(gcs bucket ${BUCKET}`));
        expect(performance.now() - started).toBeLessThan(15_000);
      }
    } finally {
      process.kill(pid, "SIGCONT");
    }
    expect(await store().head(key)).toEqual({ key, size: 7 });
  });

  /**
   * A refused connection fails at once; the SDK then tries twice more, waiting at most maxRetryDelay
   * (4 s) plus 1 s of jitter each time: about 10 s at worst (4-7 s measured). A call that hung instead
   * would run into its 60 s deadline (twice the 30 s request timeout), far beyond this bound.
   */
  const REFUSED_CALL_MS = 15_000;

  it("fails fast and retryably while the server is down, and finds everything again once it is back", {
    timeout: 90_000,
  }, async () => {
    const key = `outage/${randomUUID()}`;
    const data = randomBytes(1000);
    await store().put(key, chunked(data, 1000));
    await server!.stop();

    const down = store();
    const attempts: [string, () => Promise<unknown>][] = [
      ["put", () => down.put(`${key}-2`, chunked(randomBytes(10), 10))],
      ["head", () => down.head(key)],
      ["list", () => listAll(down, "outage/")],
    ];
    for (const [op, attempt] of attempts) {
      const started = performance.now();
      const err = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, op).toBeInstanceOf(StoreUnavailableError);
      expect((err as FerryError).retryable).toBe(true);
      expect((err as Error).message).toMatch(new RegExp(`^${op} gcp \\(gcs bucket ${BUCKET}`));
      expect((err as Error).message).not.toMatch(/[?&](name|upload_id|uploadType)=/);
      expect(performance.now() - started, `${op} took too long`).toBeLessThan(REFUSED_CALL_MS);
    }

    await server!.start();
    expect((await readAll(await store().get(key))).equals(data)).toBe(true);
    await store().put(`${key}-2`, chunked(randomBytes(10), 10));
    expect(await listAll(store(), "outage/")).toEqual([
      { key, size: 1000 },
      { key: `${key}-2`, size: 10 },
    ]);
  });
});

/** HTTP statuses of the upload requests for `key` in the server's access log (308: a chunk kept, more to come). */
async function uploadStatuses(key: string): Promise<number[]> {
  const log = await readFile(join(dir, "fake-gcs.log"), "utf8");
  const put = /"PUT \/upload\/storage\/v1\/b\/[^/]+\/o\?[^"]*?name=([^&"]+)[^"]*" (\d{3})/g;
  return [...log.matchAll(put)].filter((m) => decodeURIComponent(m[1]!) === key).map((m) => Number(m[2]));
}

/** Waits until the server has taken the first chunk of an upload to `key`. */
function firstChunkAccepted(key: string): Promise<void> {
  return pollUntil(
    `first chunk of ${key} accepted`,
    async () => (await uploadStatuses(key)).includes(308) || "no 308 yet",
    { timeoutMs: 20_000 },
  );
}
