/**
 * Client-side encryption on a real deployment (`ferry up`: hub, leaves, workers, the local S3, GCS
 * and Azure servers): what the client stages and every replica in every cloud is ciphertext with no
 * trace of a plaintext marker; `get` and `cat --range` give back the exact bytes with the key; a wrong
 * or missing key, a changed replica byte, and a pipeline that rewrote both a replica and its hash in
 * the manifest all fail loudly and write nothing wrong.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { jetstream } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sealedChunkSize, uploadEncrypted } from "../../client/encryption/encrypted-upload.ts";
import { loadKeyFile } from "../../client/encryption/key-file.ts";
import { submitIngest, waitForFiles } from "../../client/ingest.ts";
import { DEFAULT_SEGMENT_SIZE as S, TAG_BYTES } from "../../shared/crypto/file-encryption.ts";
import { newFileId } from "../../shared/ids.ts";
import { type ChunkRecord, chunkKey, openManifest, readChunkRecords, readFileRecord } from "../../shared/manifest.ts";
import { connectNats } from "../../shared/nats/connect.ts";
import { openStores } from "../../shared/stores/open-store.ts";
import type { BlobStore } from "../../shared/stores/types.ts";
import { adminOf } from "../../shared/topology/nats-identities.ts";
import { type CliResult, jsonLines, runCli } from "../helpers/cli.ts";
import { type CliDeployment, upWithCli } from "../helpers/cli-deployment.ts";
import { sha256 } from "../helpers/files.ts";
import { listAll, readAll } from "../helpers/stores.ts";

const CHUNK = 256 * 1024;
const SEALED_CHUNK = sealedChunkSize(CHUNK); // 3 segments: 196,656 bytes
const MARKER = Buffer.from("FERRY-PLAINTEXT-MARKER-7f3a");

let d: CliDeployment;
let stores: Map<string, BlobStore>;
let nc: NatsConnection;
let kv: KV;
let keyFile: string;
let plain: Buffer;
let path: string;
let fileId: string; // ingested with `ferry ingest --encrypt`

/** Text with the marker on every line: any plaintext that reaches a store would show it. */
function markedText(size: number): Buffer {
  const lines: string[] = [];
  for (let i = 0; lines.join("").length < size; i++) lines.push(`${MARKER} line ${i} ${"x".repeat(i % 50)}\n`);
  return Buffer.from(lines.join("")).subarray(0, size);
}

beforeAll(async () => {
  d = await upWithCli({ chunkSize: CHUNK });
  stores = openStores(d.deployment);
  // admin: the tampering tests rewrite the manifest, as only an attacker with the operator's rights could.
  nc = await connectNats(d.deployment.hub.url, "test-encryption", adminOf(d.deployment));
  kv = await openManifest(jetstream(nc, { domain: d.deployment.topology.hubDomain }));
  keyFile = join(d.work, "deployment.key");
  const made = await runCli(["keygen", "-o", keyFile]);
  expect(made.code, made.stderr).toBe(0);
  plain = markedText(10 * S + 777); // 11 segments in 4 chunks
  path = join(d.work, "train.jsonl");
  writeFileSync(path, plain);
  const r = await runCli(["ingest", path, "--encrypt", "--key-file", keyFile, "--wait", "--json"], { env: d.env });
  expect(r.code, r.stderr).toBe(0);
  fileId = jsonLines<{ fileId: string }>(r.stdout)[0]!.fileId;
}, 240_000);

afterAll(async () => {
  await nc?.close();
  await Promise.all([...(stores?.values() ?? [])].map((s) => s.close()));
  await d?.down();
});

/** `ferry <args>` with stdout as bytes. */
async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult & { bytes: Buffer }> {
  const out = join(d.work, `out-${Date.now()}-${Math.random()}`);
  const fd = openSync(out, "w");
  try {
    const r = await runCli(args, { env: { ...d.env, ...env }, stdoutFd: fd });
    return { ...r, bytes: readFileSync(out) };
  } finally {
    closeSync(fd);
  }
}

const chunks = async (): Promise<ChunkRecord[]> => readChunkRecords(kv, (await readFileRecord(kv, fileId))!);

/** Every object in every store, with its bytes. */
async function everyObject(): Promise<Array<{ cloud: string; key: string; bytes: Buffer }>> {
  const out = [];
  for (const [cloud, store] of stores)
    for (const key of await listAll(store, "")) out.push({ cloud, key, bytes: await readAll(await store.get(key)) });
  return out;
}

describe("ferry keygen", () => {
  it("wrote a 0600 key file and refuses to overwrite it", async () => {
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const again = await runCli(["keygen", "-o", keyFile]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("already exists: a key is never overwritten");
  });
});

describe("what the clouds hold", () => {
  it("the client stages ciphertext only, and the file completes from it (Node client API)", async () => {
    const key = await loadKeyFile(keyFile);
    const id = newFileId();
    const sealed = await uploadEncrypted(stores.get("aws")!, id, path, CHUNK, key);
    const staged = await listAll(stores.get("aws")!, `staging/${id}/`);
    expect(staged.length).toBe(4);
    for (const k of staged) {
      const bytes = await readAll(await stores.get("aws")!.get(k));
      expect(bytes.includes(MARKER), k).toBe(false);
    }
    const hubJs = jetstream(nc, { domain: d.deployment.topology.hubDomain });
    await submitIngest(hubJs, { ...sealed, name: "api.jsonl" }, { fileId: id, cloud: "aws", recordBoundaries: false });
    const done = await waitForFiles(kv, [id], () => undefined, 120_000);
    expect(done.get(id)?.state).toBe("complete");
    const back = await run(["cat", id, "--key-file", keyFile]);
    expect(back.code, back.stderr).toBe(0);
    expect(back.bytes.equals(plain)).toBe(true);
  });

  it("no object in any store holds plaintext; each replica differs from its plaintext bytes", async () => {
    const objects = await everyObject();
    expect(objects.filter((o) => o.key.startsWith("chunks/")).length).toBeGreaterThanOrEqual(3 * 4 * 2);
    for (const o of objects) expect(o.bytes.includes(MARKER), `${o.cloud} ${o.key}`).toBe(false);
    for (const c of await chunks()) {
      expect(c.size).toBe(Math.min(SEALED_CHUNK, plain.length + 11 * TAG_BYTES - c.offset));
      for (const r of c.replicas) {
        const bytes = await readAll(await stores.get(r.cloud)!.get(r.key));
        expect(bytes.equals(plain.subarray(c.offset, c.offset + c.size))).toBe(false);
      }
    }
  });

  it("the manifest records the wrapped key and key id, never the key, and no plaintext digest", async () => {
    const f = (await readFileRecord(kv, fileId))!;
    const key = await loadKeyFile(keyFile);
    expect(f.encryption?.keyId).toBe(key.keyId);
    expect(f.encryption?.plaintextSize).toBe(plain.length);
    expect([f.chunkSize, f.chunkCount]).toEqual([SEALED_CHUNK, 4]);
    const text = JSON.stringify(f);
    expect(text).not.toContain(key.key.toString("hex"));
    expect(text).not.toContain(key.key.toString("base64"));
    expect(text).not.toContain(sha256(plain));
    expect(f.sha256).not.toBe(sha256(plain));
    const st = await runCli(["status", fileId], { env: d.env });
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toContain(
      `encrypted key id ${key.keyId}, 640.8 KiB of plaintext in 64.0 KiB AES-256-GCM segments`,
    );
  });
});

describe("reading it back with the key", () => {
  it("get writes the original bytes", async () => {
    const out = join(d.work, "got.jsonl");
    const r = await runCli(["get", fileId, "-o", out, "--key-file", keyFile], { env: d.env });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).equals(plain)).toBe(true);
    expect(r.stderr).toContain(`decrypted, sha256 ${sha256(plain)}`);
  });

  it.each([
    ["the whole file", undefined, 0, 10 * S + 777],
    ["inside one segment", "10-99", 10, 100],
    ["across a segment boundary", `${S - 3}-${S + 3}`, S - 3, S + 4],
    ["across a chunk boundary (segments 2 to 4)", `${2 * S + 5}-${4 * S + 1}`, 2 * S + 5, 4 * S + 2],
    ["the last byte", `${10 * S + 776}-`, 10 * S + 776, 10 * S + 777],
    ["the last 1000 bytes", "=-1000", 10 * S + 777 - 1000, 10 * S + 777],
  ])("cat gives %s exactly (--range %s)", async (_what, range, from, to) => {
    const args = range === undefined ? [] : range.startsWith("=") ? [`--range${range}`] : ["--range", range];
    const r = await run(["cat", fileId, ...args], { FERRY_ENCRYPTION_KEY_FILE: keyFile });
    expect(r.code, r.stderr).toBe(0);
    expect(r.bytes.equals(plain.subarray(from, to))).toBe(true);
  });
});

describe("edges", () => {
  it("an empty file encrypts to one empty sealed segment and reads back empty", async () => {
    const empty = join(d.work, "empty.bin");
    writeFileSync(empty, "");
    const r = await runCli(["ingest", empty, "--encrypt", "--key-file", keyFile, "--wait", "--json"], { env: d.env });
    expect(r.code, r.stderr).toBe(0);
    const id = jsonLines<{ fileId: string }>(r.stdout)[0]!.fileId;
    expect((await readFileRecord(kv, id))?.size).toBe(TAG_BYTES);
    const c = await run(["cat", id, "--key-file", keyFile]);
    expect([c.code, c.bytes.length], c.stderr).toEqual([0, 0]);
    const out = join(d.work, "empty.out");
    const g = await runCli(["get", id, "-o", out, "--key-file", keyFile], { env: d.env });
    expect(g.code, g.stderr).toBe(0);
    expect(readFileSync(out).length).toBe(0);
  });

  it.each([
    ["no key", ["--encrypt"], /--encrypt needs the deployment key: --key-file <path> or FERRY_ENCRYPTION_KEY_FILE/],
    ["a key file without --encrypt", ["--key-file", "k"], /--key-file is for --encrypt/],
    ["--validate", ["--encrypt", "--key-file", "K", "--validate", "jsonl"], /--validate cannot check encrypted chunks/],
    [
      "an object URL",
      ["--encrypt", "--key-file", "K", "s3://ferry-cli-aws/x"],
      /--upload and --encrypt send files from this machine/,
    ],
  ])("ingest --encrypt refuses %s with exit 2 before sending anything", async (_what, args, message) => {
    const argv = args.map((a) => (a === "K" ? keyFile : a));
    const r = await runCli(["ingest", ...(argv.some((a) => a.startsWith("s3://")) ? [] : [path]), ...argv], {
      env: d.env,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

describe("through the clouds' gateways (--objects gateway), with no store credentials", () => {
  it("ingest --encrypt uploads through upload URLs and cat decrypts through read URLs", async () => {
    const env = { FERRY_OBJECTS: "gateway", FERRY_ENCRYPTION_KEY_FILE: keyFile };
    const r = await runCli(["ingest", path, "--encrypt", "--cloud", "gcp", "--wait", "--json"], {
      env: { ...d.env, ...env },
    });
    expect(r.code, r.stderr).toBe(0);
    const id = jsonLines<{ fileId: string }>(r.stdout)[0]!.fileId;
    for (const c of await readChunkRecords(kv, (await readFileRecord(kv, id))!))
      for (const rep of c.replicas)
        expect((await readAll(await stores.get(rep.cloud)!.get(rep.key))).includes(MARKER)).toBe(false);
    const back = await run(["cat", id, "--range", `${S}-${5 * S}`], env);
    expect(back.code, back.stderr).toBe(0);
    expect(back.bytes.equals(plain.subarray(S, 5 * S + 1))).toBe(true);
  });
});

describe("what fails loudly", () => {
  const noPartials = () => readdirSync(d.work).filter((f) => f.includes("ferry-partial"));

  it("a wrong key: get and cat exit 2 naming both key ids, and write nothing", async () => {
    const other = join(d.work, "other.key");
    expect((await runCli(["keygen", "-o", other])).code).toBe(0);
    const want = (await loadKeyFile(keyFile)).keyId;
    const message = new RegExp(`the key in ${other} \\(key id [0-9a-f]{32}\\) does not match key id ${want}`);
    const out = join(d.work, "wrong.jsonl");
    const g = await runCli(["get", fileId, "-o", out, "--key-file", other], { env: d.env });
    expect(g.code).toBe(2);
    expect(g.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
    const c = await run(["cat", fileId, "--key-file", other]);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(message);
    expect(c.bytes.length).toBe(0);
    const none = await run(["cat", fileId]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`file ${fileId} is encrypted (key id ${want}): give its key with --key-file`);
    expect(noPartials()).toEqual([]);
  });

  /** Flips byte 100 of chunk 1 in every replica (`rehash`: and records the new hash, as a rogue pipeline could), runs `body`, restores. */
  async function tampered(rehash: boolean, body: () => Promise<void>): Promise<void> {
    const c = (await chunks())[1]!;
    const originals = await Promise.all(c.replicas.map(async (r) => readAll(await stores.get(r.cloud)!.get(r.key))));
    const changed = Buffer.from(originals[0]!);
    changed[100]! ^= 0x01;
    for (const r of c.replicas) await stores.get(r.cloud)!.put(r.key, Readable.from([changed]), { overwrite: true });
    if (rehash) await kv.put(chunkKey(fileId, 1), JSON.stringify({ ...c, sha256: sha256(changed) }));
    try {
      await body();
    } finally {
      for (const [i, r] of c.replicas.entries())
        await stores.get(r.cloud)!.put(r.key, Readable.from([originals[i]!]), { overwrite: true });
      if (rehash) await kv.put(chunkKey(fileId, 1), JSON.stringify(c));
    }
  }

  async function failsWithoutWrongBytes(message: RegExp): Promise<void> {
    const out = join(d.work, "tampered.jsonl");
    const g = await runCli(["get", fileId, "-o", out, "--key-file", keyFile], { env: d.env });
    expect(g.code).toBe(1);
    expect(g.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
    const c = await run(["cat", fileId, "--key-file", keyFile]);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(message);
    // Only what came before the changed segment, all of it right.
    expect(c.bytes.length).toBeLessThanOrEqual(3 * S);
    expect(c.bytes.equals(plain.subarray(0, c.bytes.length))).toBe(true);
    expect(noPartials()).toEqual([]);
  }

  it("a byte changed in every replica of a chunk: the chunk hash catches it", async () => {
    await tampered(false, () =>
      failsWithoutWrongBytes(new RegExp(`chunk 1 of file ${fileId} could not be read from any replica`)),
    );
  });

  it("a replica and its hash rewritten together: the segment fails authentication", async () => {
    await tampered(true, () => failsWithoutWrongBytes(new RegExp(`segment 3 of file ${fileId} failed authentication`)));
  });

  it("after the tampering is undone the file reads back whole again", async () => {
    const r = await run(["cat", fileId, "--key-file", keyFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.bytes.equals(plain)).toBe(true);
  });
});
