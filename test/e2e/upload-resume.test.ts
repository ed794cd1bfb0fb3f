/**
 * `ferry ingest --upload FILE` SIGKILLed mid-way and run again: the second run goes on with the same
 * file id and writes only the chunks the first did not stage; a file changed between the runs is
 * uploaded from the start as a new file. Both complete and read back identical.
 */

import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { chunkListDigest } from "../../shared/chunk-digest.ts";
import { fsRoot } from "../../shared/topology/deployment.ts";
import { jsonLines, runCli } from "../helpers/cli.ts";
import { type CliDeployment, upWithCli } from "../helpers/cli-deployment.ts";
import { eventually, sha256 } from "../helpers/files.ts";

const KiB = 1024;
const CHUNK = 256 * KiB;
let d: CliDeployment;
let env: NodeJS.ProcessEnv;
let journals: string;
let clientDir: string;

beforeAll(async () => {
  d = await upWithCli({ chunkSize: "256KiB", stores: "fs" });
  journals = join(d.work, "state", "ferry", "uploads");
  env = { ...d.env, XDG_STATE_HOME: join(d.work, "state") };
  clientDir = join(d.work, "client");
  mkdirSync(clientDir);
}, 180_000);
afterAll(async () => {
  await d?.down();
});

interface Journal {
  fileId: string;
  chunks: Array<{ offset: number; size: number; sha256: string }>;
}

/** Every upload journal left (`.jsonl`: a first line naming the file, then a line per staged chunk). */
const readJournals = (): Journal[] => {
  const files = existsSync(journals) ? readdirSync(journals).filter((f) => f.endsWith(".jsonl")) : [];
  return files.map((f) => {
    const [head, ...chunks] = readFileSync(join(journals, f), "utf8")
      .split("\n")
      .filter((l) => l.endsWith("}"));
    return { fileId: (JSON.parse(head!) as Journal).fileId, chunks: chunks.map((l) => JSON.parse(l)) };
  });
};

/** Starts `ferry ingest --upload` with store writes slowed to 2 MiB/s, SIGKILLs it once 10 chunks are staged, returns its journal. */
async function uploadKilledMidway(path: string): Promise<Journal> {
  let child: ChildProcess | undefined;
  const run = runCli(["ingest", path, "--upload", "--json"], {
    env: { ...env, FERRY_FS_THROTTLE_BPS: String(2 * 1024 * KiB) },
    onSpawn: (c) => (child = c),
  });
  await eventually(() => (readJournals()[0]?.chunks.length ?? 0) >= 10 || undefined, 60_000, "10 chunks uploaded");
  child?.kill("SIGKILL");
  const r = await run;
  expect(r.code, r.stderr).toBeNull();
  const [journal, ...others] = readJournals();
  expect(others).toEqual([]);
  expect(journal!.chunks.length).toBeLessThan(40);
  return journal!;
}

/** Staged objects of a file in aws's store (the upload's default cloud): chunk index -> inode and mtime. */
function staged(fileId: string): Map<number, string> {
  const dir = join(fsRoot(d.deployment, "aws"), "staging", fileId);
  const out = new Map<number, string>();
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const st = statSync(join(dir, name));
    out.set(Number(name), `${st.ino}@${st.mtimeMs}`);
  }
  return out;
}

/** Waits for the file to complete (`ferry status --json`), reads it back with `ferry get`, returns both. */
async function completedAndRead(fileId: string): Promise<{ status: Record<string, unknown>; back: Buffer }> {
  const status = await eventually(
    async () => {
      const r = await runCli(["status", fileId, "--json"], { env });
      const s = r.code === 0 ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined;
      return s?.state === "complete" || s?.state === "failed" ? s : undefined;
    },
    120_000,
    `file ${fileId} complete`,
  );
  expect(status.state, String(status.reason)).toBe("complete");
  const out = join(d.work, `${fileId}.back`);
  const got = await runCli(["get", fileId, "-o", out], { env });
  expect(got.code, got.stderr).toBe(0);
  return { status, back: readFileSync(out) };
}

it("a killed upload run again uploads only the chunks not yet staged, under the same file id", async () => {
  const path = join(clientDir, "resumed.bin");
  const data = randomBytes(40 * CHUNK);
  writeFileSync(path, data);
  const first = await uploadKilledMidway(path);
  const done = first.chunks.length;
  const before = staged(first.fileId);
  expect(before.size).toBeGreaterThanOrEqual(done);

  // The cloud's ingest worker is held, so the staging objects stay to be looked at before it takes the request.
  const ingestPid = d.pid("ingest-aws");
  process.kill(ingestPid, "SIGSTOP");
  let second: Awaited<ReturnType<typeof runCli>>;
  let after: Map<number, string>;
  try {
    second = await runCli(["ingest", path, "--upload", "--json"], { env });
    expect(second.code, second.stderr).toBe(0);
    after = staged(first.fileId);
  } finally {
    process.kill(ingestPid, "SIGCONT");
  }
  expect(second.stderr).toContain(`resuming the upload of ${path} as file ${first.fileId}: ${done} chunks`);
  expect(jsonLines<{ fileId: string }>(second.stdout).map((f) => f.fileId)).toEqual([first.fileId]);
  // Chunks the first run staged were not written again (same inode, same mtime); the rest are there.
  expect(after.size).toBe(40);
  for (let i = 0; i < done; i++) expect(after.get(i), `chunk ${i}`).toBe(before.get(i));
  expect(readJournals()).toEqual([]);

  const { status, back } = await completedAndRead(first.fileId);
  expect(sha256(back)).toBe(sha256(data));
  // Resumed: the file's digest is its chunk-list digest, which get checked.
  const chunks = status.chunks as Journal["chunks"];
  expect(status.sha256).toBe(chunkListDigest(chunks));
  expect(status.sha256).not.toBe(sha256(data));
});

it("a file changed between the runs is uploaded from the start as a new file, and says so", async () => {
  const path = join(clientDir, "changed.bin");
  writeFileSync(path, randomBytes(40 * CHUNK));
  const first = await uploadKilledMidway(path);
  appendFileSync(path, randomBytes(1000));
  const data = readFileSync(path);

  const second = await runCli(["ingest", path, "--upload", "--json"], { env });
  expect(second.code, second.stderr).toBe(0);
  expect(second.stderr).toContain(
    `${path}: its size went from ${40 * CHUNK} to ${data.length} bytes since its interrupted upload (file ${first.fileId}); uploading it from the start as a new file`,
  );
  const [sent] = jsonLines<{ fileId: string }>(second.stdout);
  expect(sent!.fileId).not.toBe(first.fileId);
  expect(readJournals()).toEqual([]);
  // What the abandoned upload staged is removed: no request will ever name it.
  expect(staged(first.fileId).size).toBe(0);

  const { status, back } = await completedAndRead(sent!.fileId);
  expect(sha256(back)).toBe(sha256(data));
  // Read in one pass: the plain SHA-256, what sha256sum prints.
  expect(status.sha256).toBe(sha256(data));
});
