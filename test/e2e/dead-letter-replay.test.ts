/**
 * `ferry dead-letters replay` on a deployment started by `ferry up` (fs stores), as an operator
 * uses it: an ingest request names a file that does not exist yet, so it is dead-lettered and its
 * file fails; the file is created, the letter replayed with --wait, and the file completes and
 * reads back identical. The replayed letter leaves `dead-letters` and stays in `--history`; a second
 * replay, an unknown number and a replay that fails again are each told apart. The cli identity may
 * not publish the replay event. The dashboard's latest dead letters drop a replayed one.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, PermissionViolationError } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listDeadLetters, type StoredDeadLetter } from "../../client/dead-letters.ts";
import type { DashboardState } from "../../dashboard/state.ts";
import { type FileRecord, openManifest, readFileRecord } from "../../shared/manifest.ts";
import { connectNats } from "../../shared/nats/connect.ts";
import { ingestSubject, replayedSubject } from "../../shared/subjects.ts";
import { hubUrls } from "../../shared/topology/deployment.ts";
import { adminOf, cliOf } from "../../shared/topology/nats-identities.ts";
import { readRunState } from "../../supervisor/run-state.ts";
import { jsonLines, runCli } from "../helpers/cli.ts";
import { type CliDeployment, upWithCli } from "../helpers/cli-deployment.ts";
import { eventually, sha256, writeRandomFile } from "../helpers/files.ts";

const CHUNK = 64 * 1024;
type Shown = StoredDeadLetter & { outcome?: string };

let d: CliDeployment;
let admin: NatsConnection;

beforeAll(async () => {
  d = await upWithCli({ chunkSize: CHUNK, stores: "fs" });
  admin = await connectNats(hubUrls(d.deployment), "test-replay", adminOf(d.deployment));
}, 60_000);

afterAll(async () => {
  await admin?.close();
  await d?.down();
});

/** Publishes an ingest request for `path` into aws, as any NATS client may. */
async function requestIngest(fileId: string, path: string): Promise<void> {
  await jetstream(admin).publish(ingestSubject("aws"), JSON.stringify({ fileId, path }));
}

async function letters(...flags: string[]): Promise<Shown[]> {
  const r = await runCli(["dead-letters", "--json", ...flags], { env: d.env });
  expect(r.code, r.stderr).toBe(0);
  return jsonLines<Shown>(r.stdout);
}

/** The letter of `fileId`, read straight from the hub (quicker than a CLI run per poll). */
const letterOf = (fileId: string) =>
  eventually(
    async () => (await listDeadLetters(jetstream(admin, { domain: "hub" }), Infinity)).find((l) => l.fileId === fileId),
    30_000,
    `a dead letter of ${fileId}`,
  );

/** Whether the dashboard's latest dead letters name `fileId`. */
async function dashboardShows(fileId: string): Promise<boolean> {
  const url = readRunState(d.home)?.dashboardUrl as string;
  const state = (await (await fetch(new URL("/api/state", url))).json()) as DashboardState;
  return state.deadLetters.latest.some((l) => l.fileId === fileId);
}

async function fileRecord(fileId: string): Promise<FileRecord | undefined> {
  return readFileRecord(await openManifest(jetstream(admin, { domain: d.deployment.topology.hubDomain })), fileId);
}

describe("ferry dead-letters replay", () => {
  it("re-runs an ingest once its source exists: the file completes, reads back identical, and the letter is history", async () => {
    const fileId = "replay-late-file";
    const path = join(d.work, "late.bin");
    await requestIngest(fileId, path);
    const letter = await letterOf(fileId);
    expect(letter).toMatchObject({ stage: "ingest", cloud: "aws" });
    expect(await eventually(async () => ((await fileRecord(fileId))?.state === "failed" ? true : undefined))).toBe(
      true,
    );

    await eventually(async () => ((await dashboardShows(fileId)) ? true : undefined), 10_000, "the dashboard's letter");

    writeRandomFile(path, 3 * CHUNK + 17);
    const r = await runCli(["dead-letters", "replay", String(letter.seq), "--wait"], { env: d.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`#${letter.seq}  replayed as replay-${letter.seq}-1`);
    expect(r.stdout).toContain("file complete");
    expect(await fileRecord(fileId)).toMatchObject({ state: "complete", replays: 1 });

    const out = join(d.work, "late.out");
    const got = await runCli(["get", fileId, "-o", out], { env: d.env });
    expect(got.code, got.stderr).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(readFileSync(path)));

    expect((await letters()).some((l) => l.seq === letter.seq)).toBe(false);
    const history = (await letters("--history")).find((l) => l.seq === letter.seq);
    expect(history?.replayed).toMatchObject({ letterSeq: letter.seq, msgId: `replay-${letter.seq}-1` });
    expect(history?.outcome).toBe("file complete");
    await eventually(
      async () => ((await dashboardShows(fileId)) ? undefined : true),
      10_000,
      "the dashboard dropping it",
    );
    const text = await runCli(["dead-letters", "--history"], { env: d.env });
    expect(text.stdout).toMatch(
      new RegExp(`#${letter.seq} [\\s\\S]*replayed .* as replay-${letter.seq}-1: file complete`),
    );

    const again = await runCli(["dead-letters", "replay", String(letter.seq)], { env: d.env });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`#${letter.seq}: already replayed at`);
    const unknown = await runCli(["dead-letters", "replay", "999999"], { env: d.env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("#999999: no dead letter has this number");
    expect(await fileRecord(fileId)).toMatchObject({ state: "complete", replays: 1 });
  }, 60_000);

  it("exits 1 when a replay fails again, and its new letter says which it replays", async () => {
    const fileId = "replay-still-missing";
    await requestIngest(fileId, join(d.work, "never.bin"));
    const letter = await letterOf(fileId);
    const r = await runCli(["dead-letters", "replay", `#${letter.seq}`, "--wait", "--json"], { env: d.env });
    expect(r.code, r.stderr).toBe(1);
    expect(jsonLines(r.stdout)).toEqual([
      expect.objectContaining({ seq: letter.seq, fileId, state: "failed", replays: 1, outcome: "failed again" }),
    ]);
    const fresh = (await listDeadLetters(jetstream(admin, { domain: "hub" }), Infinity)).find(
      (l) => l.replayOf === letter.seq,
    );
    expect(fresh).toMatchObject({ fileId, stage: "ingest" });
    const history = (await letters("--history")).find((l) => l.seq === letter.seq);
    expect(history?.outcome).toBe(`failed again (dead letter #${fresh?.seq})`);
  }, 45_000);

  it("refuses the cli identity publishing the replay event", async () => {
    const nc = await connectNats(hubUrls(d.deployment), "test-cli", cliOf(d.deployment));
    try {
      const refused = (async () => {
        for await (const s of nc.status())
          if (s.type === "error" && s.error instanceof PermissionViolationError) return s.error;
        return undefined;
      })();
      nc.publish(replayedSubject("aws"), JSON.stringify({ letterSeq: 1, fileId: "forged-file", at: "now" }));
      await nc.flush();
      const err = await Promise.race([refused, new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000))]);
      expect(err?.operation).toBe("publish");
      expect(err?.subject).toBe(replayedSubject("aws"));
    } finally {
      await nc.close();
    }
  });
});
