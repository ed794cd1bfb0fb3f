/**
 * The stores' own encryption options (S3 SSE-KMS / SSE-S3, GCS CMEK, Azure encryption scopes): how
 * topology.json checks them, and that every request that creates an object carries them, on each
 * kind's real local server. A recording forwarder between the SDK and the server shows what was sent,
 * because only some local servers report the encryption back:
 * - versitygw v1.8.0 (posix backend): accepts `x-amz-server-side-encryption` and the KMS key id on
 *   PutObject and CreateMultipartUpload (any value, even a bogus mode), ignores them: neither the
 *   put's answer nor HeadObject reports any encryption.
 * - fake-gcs-server: accepts `kmsKeyName` on uploads and `x-goog-encryption-kms-key-name` on signed
 *   PUTs, ignores both (the object's metadata has no `kmsKeyName`).
 * - Azurite: accepts `x-ms-encryption-scope` on blocks, commits and SAS PUTs, ignores it (properties
 *   and responses carry no scope).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../shared/errors.ts";
import { localAzblobEndpoint } from "../../shared/stores/azblob/local-server.ts";
import { localGcsEndpoint } from "../../shared/stores/gcs/local-server.ts";
import { openStore } from "../../shared/stores/open-store.ts";
import { localS3Endpoint } from "../../shared/stores/s3/local-server.ts";
import type { BlobStore } from "../../shared/stores/types.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import { storeOpenSpec } from "../../shared/topology/store-config.ts";
import { startLocalStoreServer } from "../../supervisor/local-stores.ts";
import { freePort } from "../../supervisor/ports.ts";
import type { ServerProcess } from "../../supervisor/server-process.ts";
import { sha256 } from "../helpers/files.ts";
import { type RecordingProxy, startRecordingProxy } from "../helpers/recording-proxy.ts";
import { chunked, readAll } from "./helpers.ts";

const MIB = 1024 * 1024;
const KMS_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const GCS_KEY = "projects/acme/locations/europe-west1/keyRings/ferry/cryptoKeys/replicas";
const SCOPE = "ferry-replicas";

/** One cloud's `store` entry compiled the way topology.json is. */
function compiledStore(store: Record<string, unknown>) {
  const [cloud] = compileTopology({ clouds: [{ name: "c1", store }] }).clouds;
  if (!cloud) throw new Error("no cloud compiled");
  return cloud;
}

describe("encryption options in topology.json", () => {
  it("keeps each kind's own encryption fields", () => {
    const s3 = { kind: "s3", bucket: "ferry-aws", region: "eu-west-1" };
    expect(compiledStore({ ...s3, serverSideEncryption: "aws:kms", kmsKeyId: KMS_ARN }).store).toMatchObject({
      serverSideEncryption: "aws:kms",
      kmsKeyId: KMS_ARN,
    });
    expect(compiledStore({ ...s3, serverSideEncryption: "AES256" }).store).toMatchObject({
      serverSideEncryption: "AES256",
    });
    expect(compiledStore({ kind: "gcs", bucket: "ferry-gcp", kmsKeyName: GCS_KEY }).store).toMatchObject({
      kmsKeyName: GCS_KEY,
    });
    const az = { kind: "azblob", container: "ferry", endpoint: "https://acme.blob.core.windows.net" };
    expect(compiledStore({ ...az, encryptionScope: SCOPE }).store).toMatchObject({ encryptionScope: SCOPE });
  });

  it.each([
    [
      { kind: "s3", bucket: "b-1", serverSideEncryption: "kms" },
      /serverSideEncryption: "kms" is not one of "aws:kms", "AES256"/,
    ],
    [{ kind: "s3", bucket: "b-1", serverSideEncryption: true }, /serverSideEncryption: true is not one of/],
    [
      { kind: "s3", bucket: "b-1", serverSideEncryption: "aws:kms", kmsKeyId: "" },
      /kmsKeyId: expected a non-empty string, got ""/,
    ],
    [
      { kind: "s3", bucket: "b-1", serverSideEncryption: "aws:kms", kmsKeyId: 42 },
      /kmsKeyId: expected a non-empty string, got 42/,
    ],
    [{ kind: "s3", bucket: "b-1", kmsKeyId: KMS_ARN }, /kmsKeyId: a KMS key needs "serverSideEncryption": "aws:kms"/],
    [{ kind: "s3", bucket: "b-1", serverSideEncryption: "AES256", kmsKeyId: KMS_ARN }, /kmsKeyId: a KMS key needs/],
    [{ kind: "gcs", bucket: "b-1", kmsKeyName: "" }, /kmsKeyName: "" is not a valid name \(projects\/<project>/],
    [{ kind: "gcs", bucket: "b-1", kmsKeyName: "my-key" }, /kmsKeyName: "my-key" is not a valid name/],
    [{ kind: "gcs", bucket: "b-1", kmsKeyName: ["x"] }, /kmsKeyName: \["x"\] is not a valid name/],
    [
      { kind: "azblob", container: "c-1", local: true, encryptionScope: "" },
      /encryptionScope: "" is not a valid name \(3-63/,
    ],
    [{ kind: "azblob", container: "c-1", local: true, encryptionScope: "Bad_Scope" }, /encryptionScope: "Bad_Scope"/],
    [{ kind: "azblob", container: "c-1", local: true, encryptionScope: 7 }, /encryptionScope: 7 is not a valid name/],
    [{ kind: "gcs", bucket: "b-1", encryptionScope: SCOPE }, /encryptionScope: unknown field for a "gcs" store/],
  ])("refuses %j, naming the key and what is valid", (store, message) => {
    let err: unknown;
    try {
      compiledStore(store);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toMatch(/^clouds\[0\]\.store\./);
  });
});

/** A local store server of `kind` behind a recording forwarder, and the store a deployment would open on it. */
interface Rig {
  server: ServerProcess;
  proxy: RecordingProxy;
  store: BlobStore;
}

let dir = "";
const rigs: Rig[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ferry-encryption-"));
});
afterAll(async () => {
  for (const r of rigs) {
    await r.store.close();
    await r.proxy.close();
    await r.server.stop();
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function rig(
  kind: "s3" | "gcs" | "azblob",
  entry: Record<string, unknown>,
  endpointOf: (port: number) => string,
): Promise<Rig> {
  const port = await freePort();
  const bucket = (entry.bucket ?? entry.container) as string;
  const server = await startLocalStoreServer(kind, {
    port,
    dataDir: join(dir, kind),
    logFile: join(dir, `${kind}.log`),
    buckets: [bucket],
  });
  const proxy = await startRecordingProxy(endpointOf(port).replace(/\/devstoreaccount1$/, ""));
  const cloud = compiledStore({ kind, ...entry, local: true });
  const spec = storeOpenSpec(cloud, dir, port);
  // The deployment's spec, pointed through the forwarder (same path, other port).
  const endpoint = (spec as { endpoint: string }).endpoint.replace(/^http:\/\/127\.0\.0\.1:\d+/, proxy.url);
  const store = openStore({ ...spec, endpoint } as never);
  const r = { server, proxy, store };
  rigs.push(r);
  return r;
}

/** Puts `data` under `key` and checks it reads back; returns the requests the put sent. */
async function putAndRead(r: Rig, key: string, data: Buffer) {
  const from = r.proxy.requests.length;
  await r.store.put(key, chunked(data, 256 * 1024), { expectedSha256: sha256(data) });
  const sent = r.proxy.requests.slice(from);
  expect(sha256(await readAll(await r.store.get(key)))).toBe(sha256(data));
  return sent;
}

/** Uploads through a signed PUT URL with the headers it came with; the object must read back. */
async function putBySignedUrl(r: Rig, key: string, data: Buffer) {
  const signed = await r.store.signedUrl!(key, { method: "PUT", expiresInSec: 300 });
  const res = await fetch(signed.url, { method: "PUT", headers: signed.headers, body: data });
  expect(res.status, await res.text()).toBeLessThan(300);
  expect(sha256(await readAll(await r.store.get(key)))).toBe(sha256(data));
  return signed;
}

describe("GCS CMEK on fake-gcs-server", () => {
  it("asks for the key on every upload and signs it into upload URLs", async () => {
    const r = await rig("gcs", { bucket: "ferry-gcp", kmsKeyName: GCS_KEY }, localGcsEndpoint);
    const sent = await putAndRead(r, "chunks/f1/0-abc", randomBytes(9 * MIB));
    const starts = sent.filter((q) => q.method === "POST" && q.url.includes("uploadType=resumable"));
    expect(starts).toHaveLength(1);
    expect(new URL(starts[0]!.url, "http://x").searchParams.get("kmsKeyName")).toBe(GCS_KEY);

    const signed = await putBySignedUrl(r, "staging/f1/0", randomBytes(1000));
    expect(signed.headers).toEqual({ "x-goog-encryption-kms-key-name": GCS_KEY });
    expect(new URL(signed.url).searchParams.get("X-Goog-SignedHeaders")).toContain("x-goog-encryption-kms-key-name");
  });
});

describe("Azure encryption scope on Azurite", () => {
  it("sends the scope with every block and the commit, and signs it into upload SAS", async () => {
    const r = await rig("azblob", { container: "ferry-azure", encryptionScope: SCOPE }, localAzblobEndpoint);
    // 9 MiB: three 4 MiB blocks, then the commit.
    const sent = await putAndRead(r, "chunks/f1/0-abc", randomBytes(9 * MIB));
    const writes = sent.filter((q) => q.method === "PUT");
    expect(writes.map((q) => new URL(q.url, "http://x").searchParams.get("comp"))).toEqual([
      "block",
      "block",
      "block",
      "blocklist",
    ]);
    for (const q of writes) expect(q.headers["x-ms-encryption-scope"]).toBe(SCOPE);

    const signed = await putBySignedUrl(r, "staging/f1/0", randomBytes(1000));
    expect(signed.headers).toEqual({ "x-ms-blob-type": "BlockBlob", "x-ms-encryption-scope": SCOPE });
    expect(new URL(signed.url).searchParams.get("ses")).toBe(SCOPE);
  });

  it("sends no scope when the topology names none", async () => {
    const r = await rig("azblob", { container: "ferry-plain" }, localAzblobEndpoint);
    const sent = await putAndRead(r, "chunks/f1/0-abc", randomBytes(1000));
    for (const q of sent) expect(q.headers["x-ms-encryption-scope"]).toBeUndefined();
  });
});

describe("S3 server-side encryption on versitygw", () => {
  const sse = (q: { headers: Record<string, unknown> }) => [
    q.headers["x-amz-server-side-encryption"],
    q.headers["x-amz-server-side-encryption-aws-kms-key-id"],
  ];

  it("asks for SSE-KMS with the key on PutObject, CreateMultipartUpload and signed PUTs", async () => {
    const r = await rig(
      "s3",
      { bucket: "ferry-aws", partSize: "5MiB", serverSideEncryption: "aws:kms", kmsKeyId: KMS_ARN },
      localS3Endpoint,
    );
    const small = await putAndRead(r, "chunks/f1/0-abc", randomBytes(1000));
    const puts = small.filter((q) => q.method === "PUT");
    expect(puts).toHaveLength(1);
    expect(sse(puts[0]!)).toEqual(["aws:kms", KMS_ARN]);

    const big = await putAndRead(r, "chunks/f1/1-abc", randomBytes(11 * MIB));
    const create = big.filter((q) => q.method === "POST" && /[?&]uploads(=|&|$)/.test(q.url));
    expect(create).toHaveLength(1);
    expect(sse(create[0]!)).toEqual(["aws:kms", KMS_ARN]);

    const signed = await putBySignedUrl(r, "staging/f1/0", randomBytes(1000));
    expect(signed.headers).toEqual({
      "x-amz-server-side-encryption": "aws:kms",
      "x-amz-server-side-encryption-aws-kms-key-id": KMS_ARN,
    });
    // Signed as headers, not hoisted into the query string, where S3 does not take them.
    const query = new URL(signed.url).searchParams;
    expect(query.get("X-Amz-SignedHeaders")).toContain("x-amz-server-side-encryption");
    expect(query.get("x-amz-server-side-encryption")).toBeNull();
  });

  it("asks for SSE-S3 without a key", async () => {
    const r = await rig("s3", { bucket: "ferry-sse-s3", serverSideEncryption: "AES256" }, localS3Endpoint);
    const sent = await putAndRead(r, "chunks/f1/0-abc", randomBytes(1000));
    expect(sse(sent.find((q) => q.method === "PUT")!)).toEqual(["AES256", undefined]);
  });
});
