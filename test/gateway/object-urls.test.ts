import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewaySecretPath, readOrCreateSecret } from "../../gateway/secret.ts";
import { replicaKey, stagingKey } from "../../shared/chunk-keys.ts";
import { InputError, ObjectNotFoundError, SourceChangedError, UrlRefusedError } from "../../shared/errors.ts";
import { connectNats } from "../../shared/nats/connect.ts";
import { requestObjectUrl } from "../../shared/object-urls/request.ts";
import { getByUrl, putByUrl } from "../../shared/object-urls/transfer.ts";
import { signFsUrl } from "../../shared/stores/fs/signed-url.ts";
import type { SignedUrl } from "../../shared/stores/types.ts";
import { objectUrlSubject } from "../../shared/subjects.ts";
import { type Gateways, startGateways } from "../helpers/gateways.ts";
import { chunked, readAll } from "../stores/helpers.ts";

/**
 * One cloud per store kind, each on its local server (an fs folder for onprem). `checksSignatures`:
 * whether the server refuses a tampered or expired URL. fake-gcs-server does not: it serves any URL
 * that names an object, so on it only the URL's form is checked (real GCS checks both).
 */
const CLOUDS = [
  {
    name: "aws",
    store: { kind: "s3", bucket: "ferry-aws", local: true },
    signature: "X-Amz-Signature",
    checksSignatures: true,
  },
  {
    name: "gcp",
    store: { kind: "gcs", bucket: "ferry-gcp", local: true },
    signature: "X-Goog-Signature",
    checksSignatures: false,
  },
  {
    name: "azure",
    store: { kind: "azblob", container: "ferry-azure", local: true },
    signature: "sig",
    checksSignatures: true,
  },
  { name: "onprem", store: { kind: "fs" }, signature: "sig", checksSignatures: true },
];

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** The URL with one character of its signature changed. */
function tampered(url: string, param: string): string {
  const u = new URL(url);
  const sig = u.searchParams.get(param) ?? "";
  u.searchParams.set(param, (sig[0] === "a" ? "b" : "a") + sig.slice(1));
  return u.toString();
}

let g: Gateways;

beforeAll(async () => {
  g = await startGateways(CLOUDS.map(({ name, store }) => ({ name, store })));
});

afterAll(async () => {
  await g?.stop();
});

describe.each(CLOUDS)("the $name gateway ($store.kind)", (cloud) => {
  const fileId = `f${randomBytes(6).toString("hex")}`;
  const key = stagingKey(fileId, 0);
  const data = randomBytes(300 * 1024 + 7);

  it("issues URLs over NATS with which a plain fetch PUTs and GETs exactly one object", async () => {
    const put = await requestObjectUrl(g.nc, cloud.name, "put", key);
    expect(Date.parse(put.expiresAt) - Date.now()).toBeGreaterThan(14 * 60_000);
    await putByUrl(put, chunked(data, 64 * 1024), { size: data.length });
    const store = g.stores.get(cloud.name)!;
    expect(sha256(await readAll(await store.get(key)))).toBe(sha256(data));

    const get = await requestObjectUrl(g.nc, cloud.name, "get", key);
    expect(sha256(await readAll(await getByUrl(get)))).toBe(sha256(data));
    // The URL names one key: the same signature on the next chunk's key gets nothing.
    const sibling = { ...get, url: get.url.replace(`/${key}?`, `/${stagingKey(fileId, 1)}?`) };
    if (cloud.checksSignatures) await expect(getByUrl(sibling)).rejects.toBeInstanceOf(UrlRefusedError);
    else await expect(getByUrl(sibling)).rejects.toBeInstanceOf(ObjectNotFoundError);

    const missing = await requestObjectUrl(g.nc, cloud.name, "get", stagingKey(fileId, 9));
    await expect(getByUrl(missing)).rejects.toBeInstanceOf(ObjectNotFoundError);
    // A replica may be read through a URL too.
    const replica = replicaKey(fileId, 0, sha256(data));
    await store.put(replica, chunked(data, 100_000));
    const replicaUrl = await requestObjectUrl(g.nc, cloud.name, "get", replica);
    expect(sha256(await readAll(await getByUrl(replicaUrl)))).toBe(sha256(data));
  });

  it("refuses keys outside staging/ and chunks/, and upload URLs outside staging/", async () => {
    for (const bad of ["secrets/credentials", "staging/../chunks/x", ".tmp/upload", ""]) {
      await expect(requestObjectUrl(g.nc, cloud.name, "get", bad), bad).rejects.toThrow(InputError);
    }
    await expect(requestObjectUrl(g.nc, cloud.name, "put", replicaKey(fileId, 0, "ab"))).rejects.toThrow(
      /upload URLs are issued only under staging\//,
    );
    const garbled = await g.nc.request(objectUrlSubject(cloud.name), "not json", { timeout: 5000 });
    expect(garbled.json()).toEqual({ reason: "refused", error: 'op undefined is not "get" or "put"' });
  });

  it("signs every URL with an expiry; where the server checks them, a tampered or expired URL is refused", async () => {
    const get = await requestObjectUrl(g.nc, cloud.name, "get", key);
    expect(new URL(get.url).searchParams.get(cloud.signature)).toMatch(/^[A-Za-z0-9%+/=]{20,}$/);
    const short = await shortLivedUrl(cloud.name, key);
    await sleep(2100);
    if (!cloud.checksSignatures) {
      // fake-gcs-server serves a URL whatever its signature or expiry (real GCS refuses both): the
      // URL is a V4 one with its expiry, and the emulator's laxness is stated, not hidden.
      expect(new URL(get.url).searchParams.get("X-Goog-Expires")).toBe("900");
      expect(sha256(await readAll(await getByUrl({ ...get, url: tampered(get.url, cloud.signature) })))).toBe(
        sha256(data),
      );
      expect(sha256(await readAll(await getByUrl(short)))).toBe(sha256(data));
      return;
    }
    await expect(getByUrl({ ...get, url: tampered(get.url, cloud.signature) })).rejects.toThrow(
      /signature was not accepted/,
    );
    await expect(getByUrl(short)).rejects.toThrow(UrlRefusedError);
    await expect(getByUrl(short)).rejects.toThrow(/expired at/);
  });

  it("logs each URL it issued without the URL's signature", async () => {
    const issued = await requestObjectUrl(g.nc, cloud.name, "get", key);
    const signature = new URL(issued.url).searchParams.get(cloud.signature) ?? "";
    await sleep(200);
    const log = readFileSync(g.logFile(cloud.name), "utf8");
    expect(log).toContain(`"key":"${key}"`);
    expect(log).not.toContain(signature);
    expect(log).not.toContain(encodeURIComponent(signature));
  });
});

/** A URL for `key` that expires in 1 s, signed as `cloud`'s gateway signs (its store, or the fs face's secret). */
async function shortLivedUrl(cloud: string, key: string): Promise<SignedUrl & { expiresAt: string }> {
  const expiresAt = new Date(Date.now() + 1000).toISOString();
  const store = g.stores.get(cloud)!;
  if (store.signedUrl) return { ...(await store.signedUrl(key, { method: "GET", expiresInSec: 1 })), expiresAt };
  const issued = await requestObjectUrl(g.nc, cloud, "get", key);
  const secret = readOrCreateSecret(gatewaySecretPath(g.deployment.dataDir, cloud));
  return { ...signFsUrl(new URL(issued.url).origin, secret, key, { method: "GET", expiresInSec: 1 }), expiresAt };
}

describe("a process in another cloud", () => {
  it("asks the owning cloud's gateway through its own leaf and the hub", async () => {
    const leaf = await connectNats(g.deployment.leaves.gcp!.url, "test-gcp-worker", {
      name: "place-gcp",
      home: g.deployment.dataDir,
    });
    try {
      const key = stagingKey(`f${randomBytes(6).toString("hex")}`, 0);
      const data = randomBytes(1000);
      await g.stores.get("aws")!.put(key, chunked(data, 300));
      const url = await requestObjectUrl(leaf, "aws", "get", key);
      expect(sha256(await readAll(await getByUrl(url)))).toBe(sha256(data));
    } finally {
      await leaf.close();
    }
  });

  it("gets the body's own error when the body fails mid-upload, and nothing is written", async () => {
    const key = stagingKey(`f${randomBytes(6).toString("hex")}`, 0);
    const put = await requestObjectUrl(g.nc, "aws", "put", key);
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield randomBytes(1000);
      throw new SourceChangedError("source /data/x changed while it was being read");
    }
    await expect(putByUrl(put, failing(), { size: 2000 })).rejects.toBeInstanceOf(SourceChangedError);
    expect(await g.stores.get("aws")!.head(key)).toBeUndefined();
  });

  it("is told clearly when no gateway answers for a cloud", async () => {
    await expect(requestObjectUrl(g.nc, "nowhere", "get", "staging/f/0", { timeoutMs: 2000 })).rejects.toThrow(
      /no gateway answers on ferry\.objects\.nowhere\.url/,
    );
  });
});
