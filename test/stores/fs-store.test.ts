import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, InputError, StoreUnavailableError } from "../../shared/errors.ts";
import { FsStore } from "../../shared/stores/fs/fs-store.ts";
import { openStore } from "../../shared/stores/open-store.ts";
import { bytes, listAll } from "./helpers.ts";

describe("FsStore on disk", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "ferry-fs-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("touches nothing on disk until the first put", async () => {
    const root = join(dir, "later");
    const store = new FsStore({ cloud: "gcp", root });
    expect([store.kind, store.cloud, store.bucket, store.root]).toEqual(["fs", "gcp", "gcp", root]);
    expect(await store.head("a/b")).toBeUndefined();
    expect(await listAll(store, "")).toEqual([]);
    await store.delete("a/b");
    expect(await store.sweepTemp(0)).toBe(0);
    expect(existsSync(root)).toBe(false);
    await store.put("a/b", bytes(randomBytes(5)));
    expect((await stat(join(root, "a", "b"))).size).toBe(5);
  });

  it("leaves only a temp file and no object while a put is cut off mid-write, and removes it on abort", async () => {
    const root = join(dir, "s");
    const store = new FsStore({ cloud: "aws", root });
    const stalled = Promise.withResolvers<void>();
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield randomBytes(100_000);
      stalled.resolve();
      await new Promise(() => {});
    }
    const controller = new AbortController();
    const put = store.put("chunks/c1", slow(), { signal: controller.signal });
    put.catch(() => {});
    await stalled.promise;

    // What a killed writer leaves behind: one partial temp file, nothing under the key.
    const temps = await readdir(join(root, ".tmp"));
    expect(temps).toHaveLength(1);
    expect((await stat(join(root, ".tmp", temps[0] ?? ""))).size).toBe(100_000);
    expect(existsSync(join(root, "chunks", "c1"))).toBe(false);
    expect(await listAll(store, "")).toEqual([]);

    controller.abort();
    await expect(put).rejects.toMatchObject({ name: "AbortError" });
    expect(await readdir(join(root, ".tmp"))).toEqual([]);
  });

  it("sweepTemp removes temp files older than the limit and keeps fresh ones", async () => {
    const root = join(dir, "s");
    const store = new FsStore({ cloud: "aws", root });
    await store.put("k", bytes(randomBytes(1)));
    const temp = join(root, ".tmp");
    await writeFile(join(temp, "crashed.part"), randomBytes(10));
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(join(temp, "crashed.part"), hourAgo, hourAgo);
    await writeFile(join(temp, "live.part"), randomBytes(10));

    expect(await store.sweepTemp(60_000)).toBe(1);
    expect(await readdir(temp)).toEqual(["live.part"]);
    expect(await store.sweepTemp(0)).toBe(1);
    expect(await readdir(temp)).toEqual([]);
    expect(await store.head("k")).toEqual({ key: "k", size: 1 });
  });

  it("reserves .tmp and skips names that are not keys when listing", async () => {
    const root = join(dir, "s");
    const store = new FsStore({ cloud: "aws", root });
    await store.put("ok", bytes(randomBytes(2)));
    await writeFile(join(root, "not a key"), "x");
    await expect(store.put(".tmp/x", bytes(randomBytes(1)))).rejects.toBeInstanceOf(InputError);
    await expect(store.head(".tmp")).rejects.toBeInstanceOf(InputError);
    expect(await listAll(store, "")).toEqual([{ key: "ok", size: 2 }]);
  });

  it("refuses keys that collide with another object's path as InputError, not a retryable error", async () => {
    const store = new FsStore({ cloud: "aws", root: join(dir, "s") });
    await store.put("c/a", bytes(randomBytes(1)));
    await expect(store.put("c/a/b", bytes(randomBytes(1)))).rejects.toBeInstanceOf(InputError);
    await expect(store.put("c", bytes(randomBytes(1)))).rejects.toBeInstanceOf(InputError);
    await expect(store.put("c", bytes(randomBytes(1)), { overwrite: true })).rejects.toBeInstanceOf(InputError);
    expect(await store.head("c")).toBeUndefined();
    expect(await store.head("c/a/b")).toBeUndefined();
    expect(await listAll(store, "")).toEqual([{ key: "c/a", size: 1 }]);
  });

  it("reports unexpected fs errors as StoreUnavailableError naming cloud, bucket, key and code", async () => {
    const root = join(dir, "a-file");
    await writeFile(root, "not a folder");
    const store = new FsStore({ cloud: "aws", root, bucket: "b1" });
    const err = await store.put("k/x", bytes(randomBytes(1))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as StoreUnavailableError).retryable).toBe(true);
    expect((err as Error).message).toBe("fs store put failed [cloud=aws, bucket=b1, key=k/x]: ENOTDIR");
    expect((err as Error).cause).toMatchObject({ code: "ENOTDIR" });
  });

  it("keeps serving an object that is deleted after get returned", async () => {
    const store = new FsStore({ cloud: "aws", root: join(dir, "s") });
    const data = randomBytes(300_000);
    await store.put("g", bytes(data));
    const stream = await store.get("g");
    await store.delete("g");
    const parts: Buffer[] = [];
    for await (const part of stream) parts.push(part as Buffer);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });

  it("throttle slows a 256 KiB put to about the set rate", async () => {
    const store = new FsStore({ cloud: "aws", root: join(dir, "s"), throttleBytesPerSec: 512 * 1024 });
    const data = randomBytes(256 * 1024);
    const started = performance.now();
    await store.put("slow", bytes(data));
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    expect((await readFile(join(dir, "s", "slow"))).equals(data)).toBe(true);
  });

  it("an abort ends a throttled put promptly and leaves nothing", async () => {
    const root = join(dir, "s");
    const store = new FsStore({ cloud: "aws", root, throttleBytesPerSec: 64 * 1024 });
    const controller = new AbortController();
    const started = performance.now();
    const put = store.put("slow", bytes(randomBytes(1024 * 1024)), { signal: controller.signal }); // ~16 s at this rate
    setTimeout(() => controller.abort(), 150);
    await expect(put).rejects.toMatchObject({ name: "AbortError" });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(await store.head("slow")).toBeUndefined();
    expect(await readdir(join(root, ".tmp"))).toEqual([]);
  });

  it("rejects a bad throttle rate and an empty root as ConfigError", () => {
    expect(() => new FsStore({ cloud: "aws", root: dir, throttleBytesPerSec: 0 })).toThrow(ConfigError);
    expect(() => new FsStore({ cloud: "aws", root: "" })).toThrow(ConfigError);
  });

  it("rejects bodies that yield strings with InputError", async () => {
    const store = new FsStore({ cloud: "aws", root: join(dir, "s") });
    async function* text(): AsyncGenerator<string> {
      yield "hello";
    }
    await expect(store.put("t", text() as unknown as AsyncIterable<Uint8Array>)).rejects.toBeInstanceOf(InputError);
    expect(await store.head("t")).toBeUndefined();
  });
});

describe("openStore", () => {
  it("opens an fs store for a cloud", () => {
    const store = openStore({ cloud: "azure", kind: "fs", root: join(tmpdir(), "ferry-never-created") });
    expect(store).toBeInstanceOf(FsStore);
    expect([store.kind, store.cloud, store.bucket]).toEqual(["fs", "azure", "azure"]);
  });

  it("refuses a kind it does not know with ConfigError", () => {
    const spec = { cloud: "aws", kind: "s3", root: "/x" } as unknown as Parameters<typeof openStore>[0];
    expect(() => openStore(spec)).toThrow(ConfigError);
  });
});
