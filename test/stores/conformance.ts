import { randomBytes, randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChecksumMismatchError, InputError, ObjectExistsError, ObjectNotFoundError } from "../../shared/errors.ts";
import type { BlobStore } from "../../shared/stores/types.ts";
import { sha256 } from "../helpers/files.ts";
import { bytes, chunked, listAll, readAll } from "./helpers.ts";

/**
 * The behaviour every BlobStore must show, whatever is behind it. Only the interface is tested
 * here (no paths, no SDK calls), so every kind runs exactly the same cases; conformance.test.ts
 * runs it over the registry's list of kinds, each on its real server.
 */
export function describeStoreConformance(
  name: string,
  makeStore: () => Promise<{ store: BlobStore; cleanup: () => Promise<void> }>,
): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let store: BlobStore;
    let cleanup: (() => Promise<void>) | undefined;
    // One store for the suite (real buckets are slow to make); tests stay apart by key prefix.
    let run = "";
    const fresh = () => `conf-${run}/${randomUUID().slice(0, 8)}`;

    beforeAll(async () => {
      ({ store, cleanup } = await makeStore());
      run = randomUUID().slice(0, 8);
    });
    afterAll(async () => {
      await store?.close();
      await store?.close(); // close is idempotent
      await cleanup?.();
    });

    describe("put and get", () => {
      for (const size of [0, 1, 5 * 1024 * 1024 + 1]) {
        it(`round-trips ${size} bytes from an async iterable`, { timeout: 60_000 }, async () => {
          const key = `${fresh()}/obj-${size}.bin`;
          const data = randomBytes(size);
          const result = await store.put(key, chunked(data, 64 * 1024 + 7));
          expect(result).toEqual({ size, sha256: sha256(data) });
          const back = await readAll(await store.get(key));
          expect(back.length).toBe(size);
          expect(back.equals(data)).toBe(true);
        });
      }

      it("accepts a Readable body and a matching expectedSha256", async () => {
        const key = `${fresh()}/A-z_0.9/readable.bin`;
        const data = randomBytes(100_000);
        const result = await store.put(key, Readable.from(chunked(data, 4096)), { expectedSha256: sha256(data) });
        expect(result).toEqual({ size: data.length, sha256: sha256(data) });
        expect((await readAll(await store.get(key))).equals(data)).toBe(true);
      });

      it("throws ObjectNotFoundError from get itself for a missing key", async () => {
        await expect(store.get(`${fresh()}/missing`)).rejects.toBeInstanceOf(ObjectNotFoundError);
      });
    });

    describe("head", () => {
      it("gives the size of a present object and undefined for an absent one", async () => {
        const key = `${fresh()}/h`;
        await store.put(key, bytes(randomBytes(1234)));
        expect(await store.head(key)).toEqual({ key, size: 1234 });
        expect(await store.head(`${key}x`)).toBeUndefined();
      });
    });

    describe("list", () => {
      it("lists only keys under the prefix, in key order, with sizes", async () => {
        const p = fresh();
        // "-" and "." sort before "/": b-d and b.e come before b/c in plain string order.
        const sizes: Record<string, number> = {
          [`${p}/b/c`]: 3,
          [`${p}/a`]: 1,
          [`${p}/b-d`]: 4,
          [`${p}/b.e`]: 0,
          [`${p}/a.x`]: 2,
        };
        for (const [key, size] of Object.entries(sizes)) await store.put(key, bytes(randomBytes(size)));
        await store.put(`${p}-sibling/z`, bytes(randomBytes(5)));

        const expected = Object.keys(sizes)
          .sort()
          .map((key) => ({ key, size: sizes[key] }));
        expect(await listAll(store, `${p}/`)).toEqual(expected);
        // "<p>-sibling/z" sorts before "<p>/a", again because "-" sorts before "/".
        expect(await listAll(store, p)).toEqual([{ key: `${p}-sibling/z`, size: 5 }, ...expected]);
        expect(await listAll(store, `${p}/b`)).toEqual([
          { key: `${p}/b-d`, size: 4 },
          { key: `${p}/b.e`, size: 0 },
          { key: `${p}/b/c`, size: 3 },
        ]);
        expect(await listAll(store, `${p}/nothing-here`)).toEqual([]);
        const everything = await listAll(store, "");
        expect(everything.map((o) => o.key)).toEqual(everything.map((o) => o.key).sort());
        expect(everything).toEqual(expect.arrayContaining(expected));
      });

      it("rejects an invalid prefix with InputError", async () => {
        await expect(listAll(store, "../")).rejects.toBeInstanceOf(InputError);
        await expect(listAll(store, "a//")).rejects.toBeInstanceOf(InputError);
      });
    });

    describe("delete", () => {
      it("removes the object, and deleting a missing one is fine", async () => {
        const key = `${fresh()}/d`;
        await store.put(key, bytes(randomBytes(10)));
        await store.delete(key);
        expect(await store.head(key)).toBeUndefined();
        await expect(store.get(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
        await store.delete(key);
        await store.delete(`${fresh()}/never-was`);
      });
    });

    describe("atomic publication", () => {
      it("refuses a second create-only put with ObjectExistsError and keeps the first content", async () => {
        const key = `${fresh()}/once`;
        const first = randomBytes(1000);
        await store.put(key, bytes(first));
        await expect(store.put(key, bytes(randomBytes(2000)))).rejects.toBeInstanceOf(ObjectExistsError);
        expect(await store.head(key)).toEqual({ key, size: 1000 });
        expect((await readAll(await store.get(key))).equals(first)).toBe(true);
      });

      it("lets exactly one of two racing create-only writers win, with its bytes intact", {
        timeout: 60_000,
      }, async () => {
        const key = `${fresh()}/race`;
        const a = randomBytes(3 * 1024 * 1024 + 11);
        const b = randomBytes(3 * 1024 * 1024 + 11);
        const results = await Promise.allSettled([
          store.put(key, chunked(a, 64 * 1024)),
          store.put(key, chunked(b, 64 * 1024)),
        ]);
        const won = results.filter((r) => r.status === "fulfilled");
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect(lost[0]!.reason).toBeInstanceOf(ObjectExistsError);
        const back = await readAll(await store.get(key));
        expect(back.equals(results[0]!.status === "fulfilled" ? a : b)).toBe(true);
      });

      it("replaces the object with overwrite: true", async () => {
        const key = `${fresh()}/twice`;
        await store.put(key, bytes(randomBytes(1000)));
        const second = randomBytes(300);
        expect(await store.put(key, bytes(second), { overwrite: true })).toEqual({ size: 300, sha256: sha256(second) });
        expect(await store.head(key)).toEqual({ key, size: 300 });
        expect((await readAll(await store.get(key))).equals(second)).toBe(true);
      });

      it("rejects an expectedSha256 mismatch with ChecksumMismatchError and shows nothing", async () => {
        const p = fresh();
        const key = `${p}/bad`;
        const data = randomBytes(5000);
        const wrong = sha256(randomBytes(16));
        const err = await store.put(key, bytes(data), { expectedSha256: wrong }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ChecksumMismatchError);
        expect(err).toMatchObject({ expected: wrong, actual: sha256(data) });
        expect(await store.head(key)).toBeUndefined();
        expect(await listAll(store, p)).toEqual([]);
      });

      it("keeps the old content when an overwrite fails its checksum", async () => {
        const key = `${fresh()}/kept`;
        const old = randomBytes(700);
        await store.put(key, bytes(old));
        const attempt = store.put(key, bytes(randomBytes(900)), { overwrite: true, expectedSha256: sha256(old) });
        await expect(attempt).rejects.toBeInstanceOf(ChecksumMismatchError);
        expect((await readAll(await store.get(key))).equals(old)).toBe(true);
      });

      it("shows nothing while a put is under way, and nothing after it is aborted", async () => {
        const p = fresh();
        const key = `${p}/aborted`;
        const stalled = Promise.withResolvers<void>();
        async function* body(): AsyncGenerator<Uint8Array> {
          yield randomBytes(256 * 1024);
          stalled.resolve();
          await new Promise(() => {}); // a sender that hangs mid-upload
        }
        const controller = new AbortController();
        const reason = new Error("test gave up");
        const put = store.put(key, body(), { signal: controller.signal });
        put.catch(() => {}); // observed below; avoids an unhandled rejection meanwhile
        await stalled.promise;
        expect(await store.head(key)).toBeUndefined();
        expect(await listAll(store, p)).toEqual([]);

        controller.abort(reason);
        const err = await put.catch((e: unknown) => e);
        expect(err === reason || (err as Error).name === "AbortError").toBe(true);
        expect(await store.head(key)).toBeUndefined();
        expect(await listAll(store, p)).toEqual([]);
      });

      it("rejects at once when the signal is already aborted", async () => {
        const key = `${fresh()}/pre-aborted`;
        await expect(store.put(key, bytes(randomBytes(10)), { signal: AbortSignal.abort() })).rejects.toThrow();
        expect(await store.head(key)).toBeUndefined();
      });

      it("rejects with the body's own error when the body fails, and shows nothing", async () => {
        const p = fresh();
        const boom = new Error("source read failed");
        async function* body(): AsyncGenerator<Uint8Array> {
          yield randomBytes(1000);
          throw boom;
        }
        await expect(store.put(`${p}/broken`, body())).rejects.toBe(boom);
        expect(await listAll(store, p)).toEqual([]);
      });
    });

    describe("keys", () => {
      const invalid = [
        "../x",
        "a//b",
        "name with space.txt",
        "données/été.bin",
        "数据.bin",
        "/leading",
        "trailing/",
        "a/./b",
        "",
        "x".repeat(513),
        `a/${"x".repeat(256)}`,
      ];
      for (const key of invalid) {
        it(`rejects ${JSON.stringify(key.length > 20 ? `${key.slice(0, 20)}…(${key.length})` : key)} with InputError and writes nothing`, async () => {
          const before = await listAll(store, "");
          await expect(store.put(key, bytes(randomBytes(10)))).rejects.toBeInstanceOf(InputError);
          await expect(store.put(key, bytes(randomBytes(10)), { overwrite: true })).rejects.toBeInstanceOf(InputError);
          await expect(store.head(key)).rejects.toBeInstanceOf(InputError);
          await expect(store.get(key)).rejects.toBeInstanceOf(InputError);
          await expect(store.delete(key)).rejects.toBeInstanceOf(InputError);
          expect(await listAll(store, "")).toEqual(before);
        });
      }

      it("names the bad key in the error", async () => {
        await expect(store.put("bad key", bytes(randomBytes(1)))).rejects.toThrow(/bad key/);
      });

      it("accepts a 512-character key made of segments of up to 255 characters", async () => {
        const p = fresh();
        const key = `${p}/${"k".repeat(255)}/${"v".repeat(512 - p.length - 257)}`;
        expect(key.length).toBe(512);
        await store.put(key, bytes(randomBytes(3)));
        expect(await store.head(key)).toEqual({ key, size: 3 });
      });
    });
  });
}
