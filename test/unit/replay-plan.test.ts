/**
 * client/dead-letter-replay.ts `planReplays`: which letters a replay takes, and every refusal named
 * at once before anything is published. The manifest is a map; no server is needed.
 */
import { describe, expect, it } from "vitest";
import { planReplays, type ReplayClient } from "../../client/dead-letter-replay.ts";
import type { StoredDeadLetter } from "../../client/dead-letters.ts";
import { fileIdFromSequence } from "../../shared/ids.ts";
import type { FileRecord, ManifestReader } from "../../shared/manifest.ts";

function client(states: Record<string, FileRecord["state"]>): ReplayClient {
  const kv: ManifestReader = {
    get: async (key: string) => {
      const state = states[key.replace(/^file\./, "")];
      if (!state) return null;
      const value = JSON.stringify({ fileId: key.slice(5), state });
      return { operation: "PUT", length: value.length, revision: 1, json: () => JSON.parse(value) } as never;
    },
    keys: async () => (async function* () {})(),
  };
  return { nc: {} as never, hubJs: {} as never, kv, hubDomain: "hub", clouds: ["aws", "gcp"] };
}

function letter(seq: number, o: Partial<StoredDeadLetter> = {}): StoredDeadLetter {
  return {
    seq,
    cloud: "aws",
    worker: "w",
    at: "2026-01-01T00:00:00.000Z",
    durationMs: 0,
    stage: "process",
    reason: "bad",
    error: "PoisonMessageError: bad",
    subject: "chunks.ingested.aws",
    stream: "CLOUD_AWS",
    streamSeq: seq * 10,
    deliveryCount: 1,
    payload: '{"fileId":"file-a","index":0}',
    fileId: "file-a",
    ...o,
  };
}

const replayedOf = (seq: number) => ({
  letterSeq: seq,
  stage: "process",
  cloud: "aws",
  subject: "chunks.ingested.aws",
  msgId: `replay-${seq}-1`,
  at: "2026-01-01T01:00:00.000Z",
});

describe("planning a replay", () => {
  it("takes the letters asked for, once each, with the whole payload and the attempt number", async () => {
    const letters = [letter(3), letter(9, { replayOf: 3 }), letter(12, { replayOf: 9 })];
    letters[0] = { ...(letters[0] as StoredDeadLetter), replayed: replayedOf(3) };
    letters[1] = { ...(letters[1] as StoredDeadLetter), replayed: replayedOf(9) };
    const { plans } = await planReplays(client({ "file-a": "failed" }), letters, [12, 12]);
    expect(plans.map((p) => [p.letter.seq, p.attempt, p.fileId])).toEqual([[12, 3, "file-a"]]);
    expect(new TextDecoder().decode(plans[0]?.payload)).toBe('{"fileId":"file-a","index":0}');
  });

  it("refuses an unknown number, a letter replayed already and one whose file is complete, all at once", async () => {
    const letters = [letter(3, { replayed: replayedOf(3) }), letter(4, { fileId: "file-b" })];
    const plan = planReplays(client({ "file-b": "complete" }), letters, [3, 4, 77]);
    await expect(plan).rejects.toThrow(/nothing was replayed/);
    await expect(plan).rejects.toThrow(/#3: already replayed at 2026-01-01T01:00:00.000Z as message replay-3-1/);
    await expect(plan).rejects.toThrow(/#4: its file file-b is complete: there is nothing to replay/);
    await expect(plan).rejects.toThrow(/#77: no dead letter has this number/);
  });

  it("with --all, takes every letter not replayed and leaves out, saying why, those it cannot replay", async () => {
    const letters = [
      letter(3, { replayed: replayedOf(3) }),
      letter(4, { fileId: "file-b" }),
      letter(5),
      letter(6, { fileId: undefined, payload: "{ not json", subject: "files.ingest.gcp", stream: "FILES" }),
      letter(7, { subject: "files.completed" }),
    ];
    const { plans, skipped } = await planReplays(client({ "file-a": "failed", "file-b": "complete" }), letters, "all");
    expect(plans.map((p) => p.letter.seq)).toEqual([5, 6]);
    expect(skipped).toEqual([
      "#4: its file file-b is complete: there is nothing to replay",
      '#7: its subject "files.completed" is not one a stage takes: it is not published again',
    ]);
    expect(plans[1]?.fileId).toBeUndefined();
  });

  it("gives an ingest request without a fileId the id its first delivery had", async () => {
    const l = letter(8, {
      fileId: undefined,
      subject: "files.ingest",
      stream: "FILES",
      payload: '{"path":"/d/x.bin"}',
    });
    const { plans } = await planReplays(client({}), [l], [8]);
    const id = fileIdFromSequence("FILES", 80);
    expect(plans[0]?.fileId).toBe(id);
    expect(JSON.parse(new TextDecoder().decode(plans[0]?.payload))).toEqual({ fileId: id, path: "/d/x.bin" });
  });

  it("refuses a letter whose subject no stage takes (a forged letter must not make admin publish anywhere)", async () => {
    for (const subject of ["$JS.API.STREAM.DELETE.FILES", "chunks.ingested.mars", "files.completed"]) {
      await expect(planReplays(client({}), [letter(5, { subject })], [5])).rejects.toThrow(
        `#5: its subject "${subject}" is not one a stage takes`,
      );
    }
  });
});
