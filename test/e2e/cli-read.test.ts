/**
 * `ferry cat` and openFileStream, as a training job reads data back: whole files and byte ranges
 * (within a chunk, across chunk boundaries, at both ends), bad ranges, and replicas that are corrupt
 * or missing; and status, get, cat, report and dead-letters from a machine without the deployment's
 * folder (`--hub`). Real nats-servers, workers and the three clouds' protocol servers, started by `ferry up`.
 */
import {
  chownSync,
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openFileStream } from "../../client/file-stream.ts";
import { type ChunkRecord, openManifest, readChunkRecords, readFileRecord } from "../../shared/manifest.ts";
import { connectNats } from "../../shared/nats/connect.ts";
import { openStores } from "../../shared/stores/open-store.ts";
import type { BlobStore } from "../../shared/stores/types.ts";
import { cliOf } from "../../shared/topology/nats-identities.ts";
import { type CliResult, jsonLines, runCli } from "../helpers/cli.ts";
import { type CliDeployment, upWithCli } from "../helpers/cli-deployment.ts";
import { eventually, sha256, writeRandomFile } from "../helpers/files.ts";
import { readAll } from "../helpers/stores.ts";

const CHUNK = 64 * 1024;
const SIZE = 10 * CHUNK + 123; // 11 chunks, the last one short

let d: CliDeployment;
let stores: Map<string, BlobStore>;
let source: Buffer;
let fileId: string;
let emptyId: string;

beforeAll(async () => {
  d = await upWithCli({ chunkSize: CHUNK });
  stores = openStores(d.deployment);
  const path = join(d.work, "data.bin");
  writeRandomFile(path, SIZE);
  source = readFileSync(path);
  const empty = join(d.work, "empty.bin");
  writeRandomFile(empty, 0);
  const r = await runCli(["ingest", path, empty, "--wait", "--json"], { env: d.env });
  expect(r.code, r.stderr).toBe(0);
  [fileId, emptyId] = jsonLines<{ fileId: string }>(r.stdout).map((l) => l.fileId) as [string, string];
});

afterAll(async () => {
  await Promise.all([...(stores?.values() ?? [])].map((s) => s.close()));
  await d?.down();
});

/** `ferry cat <args>` with its stdout as bytes. */
async function cat(...args: string[]): Promise<CliResult & { bytes: Buffer }> {
  const out = join(d.work, `cat-${Date.now()}-${Math.random()}.out`);
  const fd = openSync(out, "w");
  try {
    const r = await runCli(["cat", ...args], { env: d.env, stdoutFd: fd });
    return { ...r, bytes: readFileSync(out) };
  } finally {
    closeSync(fd);
  }
}

async function chunkRecords(): Promise<ChunkRecord[]> {
  const nc = await connectNats(d.deployment.hub.url, "test-read", cliOf(d.deployment));
  try {
    const kv = await openManifest(jetstream(nc, { domain: d.deployment.topology.hubDomain }));
    return await readChunkRecords(kv, (await readFileRecord(kv, fileId))!);
  } finally {
    await nc.close();
  }
}

describe("ferry cat", () => {
  it("streams the whole file byte-identical, and an empty file as nothing", async () => {
    const r = await cat(fileId);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(r.bytes)).toBe(sha256(source));
    expect(r.bytes.length).toBe(SIZE);
    const e = await cat(emptyId);
    expect(e.code, e.stderr).toBe(0);
    expect(e.bytes.length).toBe(0);
  });

  it.each([
    ["the first byte", "0-0", 0, 1],
    ["exactly the first chunk", `0-${CHUNK - 1}`, 0, CHUNK],
    ["two bytes across a chunk boundary", `${CHUNK - 1}-${CHUNK}`, CHUNK - 1, CHUNK + 1],
    ["from inside one chunk to inside the fourth", `${CHUNK - 10}-${3 * CHUNK + 9}`, CHUNK - 10, 3 * CHUNK + 10],
    ["the last byte", `${SIZE - 1}-${SIZE - 1}`, SIZE - 1, SIZE],
    ["an open end", `${5 * CHUNK + 7}-`, 5 * CHUNK + 7, SIZE],
    ["the last 200 bytes, across the last boundary", "=-200", SIZE - 200, SIZE],
  ])("streams %s (--range %s)", async (_what, range, from, to) => {
    // `--range=-N`: a value that starts with a dash must be joined to its flag.
    const r = await cat(fileId, ...(range.startsWith("=") ? [`--range${range}`] : ["--range", range]));
    expect(r.code, r.stderr).toBe(0);
    expect(r.bytes.length).toBe(to - from);
    expect(r.bytes.equals(source.subarray(from, to))).toBe(true);
  });

  it.each([
    ["10-5", /--range "10-5": the end \(5\) is before the start \(10\)/],
    ["abc", /--range "abc": expected one dash/],
    [`0-${SIZE}`, new RegExp(`--range: the file is ${SIZE} bytes, so the end must be at most ${SIZE - 1}`)],
    [`${SIZE}-`, new RegExp(`--range: the file is ${SIZE} bytes, so the start must be at most ${SIZE - 1}`)],
  ])("refuses --range %s with a clear message, exit 2 and no bytes", async (range, message) => {
    const r = await cat(fileId, "--range", range);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.bytes.length).toBe(0);
  });

  it("refuses an unknown file id", async () => {
    const r = await cat("no-such-file");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no file with id no-such-file");
  });

  /** Waits until the orchestrator's scrub, which cat asked for, has written the replica again. */
  const repaired = (key: string, good: Buffer) =>
    eventually(
      async () => {
        try {
          return (await readAll(await stores.get("aws")!.get(key))).equals(good) ? true : undefined;
        } catch {
          return undefined; // not written again yet
        }
      },
      30_000,
      `the aws replica ${key} to be written again by a scrub`,
    );

  it("falls back to another replica when the nearest is corrupt, never writes a wrong byte, and has it repaired", async () => {
    const aws = stores.get("aws")!;
    const rep = (await chunkRecords())[1]!.replicas.find((x) => x.cloud === "aws")!;
    const good = await readAll(await aws.get(rep.key));
    await aws.put(rep.key, Readable.from([Buffer.from([good[0]! ^ 0xff]), good.subarray(1)]), { overwrite: true });
    try {
      const only = await cat(fileId, "--from", "aws");
      expect(only.code).toBe(1);
      expect(only.stderr).toMatch(/chunk 1 of file .* could not be read from any replica \(aws: sha256/);
      expect(only.bytes.equals(source.subarray(0, CHUNK))).toBe(true); // chunk 0, verified; nothing of chunk 1
      expect(only.stderr).toContain("asked for the aws replica of chunk 1 to be checked and written again");
      await repaired(rep.key, good);
      const r = await cat(fileId);
      expect(r.code, r.stderr).toBe(0);
      expect(r.bytes.equals(source)).toBe(true);
    } finally {
      await aws.put(rep.key, Readable.from([good]), { overwrite: true });
    }
  });

  it("falls back to another replica when the nearest is missing, and has it written again", async () => {
    const aws = stores.get("aws")!;
    const rep = (await chunkRecords())[2]!.replicas.find((x) => x.cloud === "aws")!;
    const good = await readAll(await aws.get(rep.key));
    await aws.delete(rep.key);
    try {
      const r = await cat(fileId, "--range", `${2 * CHUNK}-${3 * CHUNK - 1}`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.bytes.equals(source.subarray(2 * CHUNK, 3 * CHUNK))).toBe(true);
      expect(r.stderr).toContain("chunk 2: the aws replica is unusable");
      await repaired(rep.key, good);
    } finally {
      await aws.put(rep.key, Readable.from([good]), { overwrite: true });
    }
  });
});

describe("openFileStream from Node code", () => {
  it("gives the same verified bytes as a Readable, whole or a range", async () => {
    const nc = await connectNats(d.deployment.hub.url, "test-reader", cliOf(d.deployment));
    try {
      const kv = await openManifest(jetstream(nc, { domain: d.deployment.topology.hubDomain }));
      const preference = ["gcp", "azure", "aws"];
      const whole = await openFileStream(kv, stores, fileId, { preference });
      expect(whole.range).toEqual({ start: 0, end: SIZE - 1, length: SIZE });
      expect((await readAll(whole.stream)).equals(source)).toBe(true);
      const part = await openFileStream(kv, stores, fileId, { preference, range: { start: 100, end: 4 * CHUNK } });
      expect((await readAll(part.stream)).equals(source.subarray(100, 4 * CHUNK + 1))).toBe(true);
    } finally {
      await nc.close();
    }
  });
});

describe("commands from another machine: --hub and nothing else", () => {
  // Another machine, as far as this one can make it: another user (when we are root), its own empty
  // home, no FERRY_HOME or topology it could read; the deployment's folder is 0700 and root's.
  const other = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  let clientHome: string;
  let env: NodeJS.ProcessEnv;
  const hub = () => d.deployment.hub.url;

  beforeAll(() => {
    clientHome = mkdtempSync(join(tmpdir(), "ferry-client-"));
    if (other.uid !== undefined) chownSync(clientHome, other.uid, other.gid);
    // The CLI identity's seed, copied from the hub's folder as an operator hands it out.
    const seeds = join(clientHome, "credentials", "nats");
    mkdirSync(seeds, { recursive: true, mode: 0o700 });
    copyFileSync(join(d.home, "credentials", "nats", "cli.nk"), join(seeds, "cli.nk"));
    // And the deployment's CA certificate, which it trusts through FERRY_TLS_CA.
    copyFileSync(d.deployment.tls.caFile, join(clientHome, "ca.pem"));
    if (other.uid !== undefined)
      for (const p of [join(clientHome, "credentials"), seeds, join(seeds, "cli.nk"), join(clientHome, "ca.pem")])
        chownSync(p, other.uid, other.gid);
    env = {
      HOME: clientHome,
      FERRY_HOME: join(clientHome, ".ferry"),
      FERRY_TOPOLOGY: join(clientHome, "none.json"),
      FERRY_NATS_HOME: clientHome,
      FERRY_TLS_CA: join(clientHome, "ca.pem"),
    };
    expect(statSync(d.work).mode & 0o777).toBe(0o700);
  });

  afterAll(() => rmSync(clientHome, { recursive: true, force: true }));

  const remote = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    runCli(args, { env: { ...env, ...extraEnv }, ...other });

  it("is refused without the CLI's NATS seed, saying where to put it", async () => {
    const r = await remote(["status", "--hub", hub(), "--timeout", "3s"], { FERRY_NATS_HOME: "" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("refused a connection without NATS credentials: set FERRY_NATS_HOME");
  });

  it("status shows the hub, every leaf linked and the files", async () => {
    const r = await remote(["status", "--json", "--hub", hub()]);
    expect(r.code, r.stderr).toBe(0);
    const st = JSON.parse(r.stdout) as { leaves: Array<{ cloud: string; linked: boolean }>; files: { total: number } };
    expect(st.leaves.map((l) => [l.cloud, l.linked])).toEqual([
      ["aws", true],
      ["gcp", true],
      ["azure", true],
    ]);
    expect(st.files.total).toBe(2);
    expect(r.stdout).not.toContain("dashboardUrl"); // the dashboard stays on the hub host's loopback
  });

  it("get and cat (FERRY_HUB) give the file back byte-identical", async () => {
    const out = join(clientHome, "data.bin");
    const got = await remote(["get", fileId, "-o", out, "--hub", hub()]);
    expect(got.code, got.stderr).toBe(0);
    expect(readFileSync(out).equals(source)).toBe(true);
    const fd = openSync(join(clientHome, "cat.out"), "w");
    const r = await runCli(["cat", fileId, "--range", `${CHUNK - 5}-${2 * CHUNK + 5}`], {
      env: { ...env, FERRY_HUB: hub() },
      stdoutFd: fd,
      ...other,
    });
    closeSync(fd);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(clientHome, "cat.out")).equals(source.subarray(CHUNK - 5, 2 * CHUNK + 6))).toBe(true);
  });

  it("get and cat through the clouds' gateways (--objects gateway) give the file back byte-identical", async () => {
    const out = join(clientHome, "via-gateway.bin");
    const got = await remote(["get", fileId, "-o", out, "--hub", hub(), "--objects", "gateway"]);
    expect(got.code, got.stderr).toBe(0);
    expect(readFileSync(out).equals(source)).toBe(true);
    const fd = openSync(join(clientHome, "via-gateway.out"), "w");
    const r = await runCli(["cat", fileId, "--from", "azure"], {
      env: { ...env, FERRY_HUB: hub(), FERRY_OBJECTS: "gateway" },
      stdoutFd: fd,
      ...other,
    });
    closeSync(fd);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(clientHome, "via-gateway.out")).equals(source)).toBe(true);
    // Each chunk's URL was issued by the gateway of the cloud it was read from.
    const issued = readFileSync(join(d.home, "logs", "gateway-azure.log"), "utf8");
    expect(issued).toContain(`"key":"chunks/${fileId}/0-`);
    const bad = await remote(["cat", fileId, "--hub", "nats://127.0.0.1:1", "--objects", "sdk"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--objects: "sdk" is not "credentials" or "gateway"');
  });

  it("report and dead-letters answer too", async () => {
    const report = await remote(["report", "--json", "--hub", hub()]);
    expect(report.code, report.stderr).toBe(0);
    expect((JSON.parse(report.stdout) as { events: number }).events).toBeGreaterThan(0);
    const letters = await remote(["dead-letters", "--hub", hub()]);
    expect(letters.code, letters.stderr).toBe(0);
    expect(letters.stdout).toBe("no dead letters\n");
  });

  it("says which hub it cannot reach, within --timeout, and refuses a URL that is not one", async () => {
    const started = Date.now();
    const r = await remote(["status", "--hub", "nats://127.0.0.1:1", "--timeout", "2s"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^ferry: cannot reach the hub at nats:\/\/127\.0\.0\.1:1: no answer within 2 s \(.*refused/,
    );
    expect((Date.now() - started) / 1000).toBeLessThan(2 + 8);
    const bad = await remote(["status", "--hub", "http://127.0.0.1:4222"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--hub: "http://127.0.0.1:4222" is not a hub URL such as nats://hub.example.net:4222');
  });
});
