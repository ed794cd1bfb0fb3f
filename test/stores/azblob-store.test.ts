import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChecksumMismatchError, StoreAccessError, StoreUnavailableError } from "../../shared/errors.ts";
import { AzblobStore, type AzblobTuning } from "../../shared/stores/azblob/azblob-store.ts";
import { AZURITE_DEV_ACCOUNT } from "../../shared/stores/azblob/client.ts";
import { localAzblobEndpoint } from "../../shared/stores/azblob/local-server.ts";
import { startLocalStoreServer } from "../../supervisor/local-stores.ts";
import { freePort } from "../../supervisor/ports.ts";
import type { ServerProcess } from "../../supervisor/server-process.ts";
import { sha256 } from "../helpers/files.ts";
import { chunked, listAll, readAll } from "./helpers.ts";

const CONTAINER = "ferry-azure";
const MiB = 1024 * 1024;

let dir = "";
let port = 0;
let server: ServerProcess | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ferry-azblob-"));
  port = await freePort();
  server = await startLocalStoreServer("azblob", {
    port,
    dataDir: join(dir, "data"),
    logFile: join(dir, "azurite.log"),
    buckets: [CONTAINER],
  });
});

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function localStore(tuning?: AzblobTuning, endpoint = localAzblobEndpoint(port), container = CONTAINER): AzblobStore {
  return new AzblobStore({ cloud: "azure", container, endpoint, local: true }, tuning);
}

/** The container as the SDK sees it, for what the store interface does not show (blocks, uncommitted blobs). */
function sdkContainer() {
  const credential = new StorageSharedKeyCredential(AZURITE_DEV_ACCOUNT.name, AZURITE_DEV_ACCOUNT.key);
  return new BlobServiceClient(localAzblobEndpoint(port), credential).getContainerClient(CONTAINER);
}

describe("AzblobStore on Azurite", () => {
  const store = () => localStore({ blockSizeBytes: 4 * MiB });

  it("round-trips a 12 MiB object committed as four blocks of at most 4 MiB", async () => {
    const key = `big/${randomUUID()}`;
    const data = randomBytes(12 * MiB + 5);
    expect(await store().put(key, chunked(data, 256 * 1024 + 3))).toEqual({ size: data.length, sha256: sha256(data) });
    expect((await readAll(await store().get(key))).equals(data)).toBe(true);
    const blocks = await sdkContainer().getBlockBlobClient(key).getBlockList("all");
    expect(blocks.committedBlocks?.map((b) => b.size)).toEqual([4 * MiB, 4 * MiB, 4 * MiB, 5]);
    expect(blocks.uncommittedBlocks).toEqual([]);
  });

  it("shows nothing after a checksum-failed or aborted large put, and the next put to the key discards their blocks", async () => {
    const key = `big/${randomUUID()}`;
    const data = randomBytes(10 * MiB);
    const wrong = sha256(randomBytes(8));
    await expect(store().put(key, chunked(data, MiB), { expectedSha256: wrong })).rejects.toBeInstanceOf(
      ChecksumMismatchError,
    );

    const controller = new AbortController();
    const reason = new Error("gave up");
    async function* stalls(): AsyncGenerator<Uint8Array> {
      yield data.subarray(0, 9 * MiB); // two blocks staged, a third being filled
      controller.abort(reason);
      await new Promise(() => {});
    }
    await expect(store().put(key, stalls(), { signal: controller.signal })).rejects.toBe(reason);

    expect(await store().head(key)).toBeUndefined();
    expect(await listAll(store(), key)).toEqual([]);
    // Only the service's own listing of uncommitted blobs sees the staged blocks, with no content.
    const blob = sdkContainer().getBlockBlobClient(key);
    const leftover = await blob.getBlockList("all");
    expect(leftover.committedBlocks).toEqual([]);
    expect(leftover.uncommittedBlocks?.length).toBeGreaterThanOrEqual(3);

    const good = randomBytes(1000);
    await store().put(key, chunked(good, 100));
    expect((await blob.getBlockList("all")).uncommittedBlocks).toEqual([]);
    expect((await readAll(await store().get(key))).equals(good)).toBe(true);
  });

  it("sends a Content-MD5 with each block: a block damaged on the way is refused by the service and sent again", async () => {
    const proxy = await faultyRelay(port, MARKER);
    try {
      const through = localStore({ blockSizeBytes: MiB, retryBaseMs: 50 }, localAzblobEndpoint(proxy.port));
      const data = withMarker(randomBytes(3 * MiB));
      const key = `damaged/${randomUUID()}`;
      proxy.corruptNext(1);
      await through.put(key, chunked(data, 64 * 1024));
      expect(proxy.corrupted).toBe(1);
      expect((await readAll(await store().get(key))).equals(data)).toBe(true);

      // Damaged on every try: the put gives up retryably and nothing is visible.
      proxy.corruptNext(Number.POSITIVE_INFINITY);
      const err = await through.put(`${key}-2`, chunked(data, 64 * 1024)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as Error).message).toMatch(/Md5Mismatch/);
      expect(await store().head(`${key}-2`)).toBeUndefined();
    } finally {
      await proxy.close();
    }
  });

  it("fails a download whose bytes stop coming, retryably, instead of hanging its reader", async () => {
    const key = `stall/${randomUUID()}`;
    await store().put(key, chunked(randomBytes(4 * MiB), MiB));
    const relay = await faultyRelay(port, MARKER);
    try {
      const through = localStore({ requestTimeoutMs: 500 }, localAzblobEndpoint(relay.port));
      relay.stallAnswersAfter(256 * 1024);
      const body = await through.get(key);
      const started = performance.now();
      const err = await readAll(body).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as Error).message).toMatch(
        /get azure \(azblob bucket ferry-azure, key stall\/.*no bytes for 500 ms mid-download/,
      );
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      await relay.close();
    }
  });

  it("lets racing overwrites end with one writer's bytes intact, the loser failing retryably", async () => {
    const key = `overwrite/${randomUUID()}`;
    await store().put(key, chunked(randomBytes(10), 10));
    const writers = [randomBytes(4 * MiB), randomBytes(4 * MiB)];
    // One block in flight per put: a body asked for its third MiB knows its first block is staged.
    const small = localStore({ blockSizeBytes: MiB, maxConcurrency: 1 });
    const firstBlockStaged = writers.map(() => Promise.withResolvers<void>());
    const bothStaged = Promise.all(firstBlockStaged.map((s) => s.promise));
    async function* body(i: number): AsyncGenerator<Uint8Array> {
      const data = writers[i] as Buffer;
      yield data.subarray(0, MiB);
      yield data.subarray(MiB, 2 * MiB);
      firstBlockStaged[i]?.resolve();
      // Neither commits before both have a block staged, so the first commit discards a block of the other.
      await bothStaged;
      yield data.subarray(2 * MiB);
    }
    const results = await Promise.allSettled(writers.map((_, i) => small.put(key, body(i), { overwrite: true })));
    const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
    const lost = results.flatMap((r) => (r.status === "rejected" ? [r.reason as Error] : []));
    expect(won, "exactly one writer may report success").toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toBeInstanceOf(StoreUnavailableError);
    expect(lost[0]?.message).toMatch(/a concurrent put to the same key discarded this put's staged blocks/);
    const back = await readAll(await store().get(key));
    expect(back.equals(writers[won[0] ?? -1] as Buffer), "the object holds the winner's bytes").toBe(true);
  });

  it("refuses wrong credentials with StoreAccessError naming cloud and container, never the key", async () => {
    const wrongKey = randomBytes(64).toString("base64");
    const before = process.env.AZURE_STORAGE_CONNECTION_STRING;
    process.env.AZURE_STORAGE_CONNECTION_STRING = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_DEV_ACCOUNT.name};AccountKey=${wrongKey};BlobEndpoint=${localAzblobEndpoint(port)};`;
    try {
      const denied = new AzblobStore({ cloud: "azure", container: CONTAINER });
      for (const attempt of [
        () => denied.put("k/denied", chunked(randomBytes(10), 10)),
        () => denied.head("k/denied"),
        () => listAll(denied, "k/"),
      ]) {
        const err = await (attempt() as Promise<unknown>).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreAccessError);
        expect((err as StoreAccessError).retryable).toBe(false);
        expect((err as Error).message).toMatch(/azure \(azblob bucket ferry-azure/);
        expect((err as Error).message).toMatch(/access denied/);
        expect((err as Error).message).not.toContain(wrongKey);
        expect((err as Error).message).not.toContain(wrongKey.slice(0, 20));
      }
    } finally {
      if (before === undefined) delete process.env.AZURE_STORAGE_CONNECTION_STRING;
      else process.env.AZURE_STORAGE_CONNECTION_STRING = before;
    }
  });

  it("reports a missing container as StoreAccessError naming it and the fix, for every operation", async () => {
    const missing = localStore({}, localAzblobEndpoint(port), "no-such-container");
    const attempts = [
      () => missing.put("k", chunked(randomBytes(10), 10)),
      () => missing.get("k"),
      () => missing.head("k"),
      () => missing.delete("k"),
      () => listAll(missing, ""),
    ];
    for (const attempt of attempts) {
      const err = await (attempt() as Promise<unknown>).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreAccessError);
      expect((err as Error).message).toMatch(/bucket no-such-container.*does not exist.*Fix: create it/);
    }
  });

  it("times out a request to a server that never answers, retryably", async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const silentPort = (silent.address() as { port: number }).port;
      const hung = localStore({ requestTimeoutMs: 500, maxTries: 2, retryBaseMs: 50 }, localAzblobEndpoint(silentPort));
      const started = performance.now();
      const err = await hung.put("k/hung", chunked(randomBytes(100), 100)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as Error).message).toMatch(
        /put block azure \(azblob bucket ferry-azure, key k\/hung\).*no answer within 500 ms/,
      );
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(sockets.size).toBeGreaterThanOrEqual(2); // the retry really went out
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  // Last: it stops the shared server.
  it("fails retryably within a bounded time while the server is stopped, and finds every object after it restarts", {
    timeout: 90_000,
  }, async () => {
    const s = store();
    const key = `restart/${randomUUID()}`;
    const data = randomBytes(5 * MiB);
    await s.put(key, chunked(data, MiB));

    await server?.stop();
    for (const attempt of [
      () => s.put(`${key}-new`, chunked(randomBytes(10), 10)),
      () => s.head(key),
      () => s.get(key),
    ]) {
      const started = performance.now();
      const err = await attempt().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as StoreUnavailableError).retryable).toBe(true);
      expect((err as Error).message).toMatch(/ECONNREFUSED/);
      // Three refused tries with at most 0.5 s and 1 s of backoff between them; a hung try would
      // wait for its 30 s deadline.
      expect(performance.now() - started).toBeLessThan(10_000);
    }

    await server?.start();
    expect((await readAll(await s.get(key))).equals(data)).toBe(true);
    await s.put(`${key}-new`, chunked(randomBytes(10), 10));
    expect(await s.head(`${key}-new`)).toEqual({ key: `${key}-new`, size: 10 });
  });
});

describe("AzblobStore configuration", () => {
  it("refuses a container name Azure would reject, a local store without endpoint, and bad tuning, as ConfigError", () => {
    expect(
      () =>
        new AzblobStore({ cloud: "azure", container: "Ferry_Azure", local: true, endpoint: "http://127.0.0.1:1/x" }),
    ).toThrow(/not a valid Azure container name/);
    expect(() => new AzblobStore({ cloud: "azure", container: "ferry", local: true })).toThrow(
      /needs the emulator's endpoint/,
    );
    expect(() => localStore({ blockSizeBytes: 0 })).toThrow(/blockSizeBytes 0 is not a positive whole number/);
  });
});

/** Bytes the faulty relay looks for in requests; it sits early in the first block. */
const MARKER = Buffer.from("<<ferry-corrupt-me>>");

function withMarker(data: Buffer): Buffer {
  MARKER.copy(data, 1000);
  return data;
}

/**
 * A TCP relay to the server with two faults, as a bad link would cause: it flips a byte of `marker`
 * in what clients send (the next `corruptNext(n)` times), and it can stop passing answers on after
 * some bytes (`stallAnswersAfter`), leaving the connection open.
 */
async function faultyRelay(targetPort: number, marker: Buffer) {
  let budget = 0;
  let corrupted = 0;
  let answerBytesLeft = Number.POSITIVE_INFINITY;
  const sockets = new Set<Socket>();
  const relay: Server = createServer((client) => {
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
    }
    client.on("data", (data: Buffer) => {
      const at = data.indexOf(marker);
      if (at >= 0 && budget > 0) {
        budget--;
        corrupted++;
        data[at] = (data[at] as number) ^ 0xff;
      }
      upstream.write(data);
    });
    upstream.on("data", (data: Buffer) => {
      const passed = data.subarray(0, Math.max(0, Math.min(data.length, answerBytesLeft)));
      answerBytesLeft -= passed.length;
      if (passed.length > 0) client.write(passed);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  return {
    port: (relay.address() as { port: number }).port,
    corruptNext(n: number) {
      budget = n;
      corrupted = 0;
    },
    get corrupted() {
      return corrupted;
    },
    stallAnswersAfter(bytes: number) {
      answerBytesLeft = bytes;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => relay.close(resolve));
    },
  };
}
