import type { StreamSource } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import {
  idleness,
  isSilent,
  type JudgeOptions,
  judgeMissingSource,
  judgeSource,
  learnMark,
  missingSources,
  needsHeldRead,
  needsRemoteRead,
  REMOTE_REFRESH_MS,
  type RemoteStream,
  type SourceRecord,
  updateFailed,
  withoutInjected,
  withReAdded,
} from "../../streams/source-verdict.ts";

const AWS: StreamSource = { name: "CLOUD_AWS", domain: "aws" };
const NOW = 1_000_000;
const OPTIONS: JudgeOptions = { now: NOW, minIdleMs: 3000, dryRun: false };

/** A check of AWS: silent for 5 s, the hub holding its message 7, its own stream at 10. */
function judge(
  seen: { idleMs?: number; held?: number; remote?: RemoteStream | undefined } = {},
  record: SourceRecord = {},
  options: Partial<JudgeOptions> = {},
) {
  const remote = "remote" in seen ? seen.remote : { lastSeq: 10, messages: 10 };
  const held = "held" in seen ? seen.held : 7;
  return judgeSource({ source: AWS, idleMs: seen.idleMs ?? 5000, held, remote }, record, { ...OPTIONS, ...options });
}

describe("judgeSource", () => {
  it("healthy: heard from within minIdleMs, whatever its stream holds; the mark is still reported", () => {
    const { report, mark } = judge({ idleMs: 2999, remote: undefined });
    expect(report).toEqual({ source: "CLOUD_AWS", api: "$JS.aws.API", verdict: "healthy", idleMs: 2999, mark: 7 });
    expect(mark).toBe(7);
  });

  it("resuming: silent, but nudged less than minIdleMs ago", () => {
    expect(judge({}, { nudgedAt: NOW - 2999 }).report.verdict).toBe("resuming");
    // At exactly minIdleMs since the nudge it has had its time.
    expect(judge({}, { nudgedAt: NOW - 3000 }).report.verdict).toBe("nudged");
  });

  it("unreachable: silent and its stream could not be read, saying why", () => {
    const { report } = judge({ remote: { error: "no responders" } });
    expect(report).toMatchObject({ verdict: "unreachable", detail: "no responders", mark: 7 });
    expect(report.remoteLastSeq).toBeUndefined();
    expect(report.startSeq).toBeUndefined();
    // Not read at all is no better than unreadable.
    expect(judge({ remote: undefined }).report).not.toHaveProperty("detail");
    expect(judge({ remote: undefined }).report.verdict).toBe("unreachable");
  });

  it("no-mark: messages to fetch but nothing held or remembered: left to the server", () => {
    const { report, mark } = judge({ held: undefined });
    expect(report).toMatchObject({ verdict: "no-mark", remoteLastSeq: 10 });
    expect(report.detail).toContain("left to the server's own retry");
    expect(report.startSeq).toBeUndefined();
    expect(mark).toBeUndefined();
  });

  it("caught-up: its stream ends where the mark is", () => {
    const { report } = judge({ remote: { lastSeq: 7, messages: 7 } });
    expect(report).toMatchObject({ verdict: "caught-up", mark: 7, remoteLastSeq: 7 });
    expect(report.startSeq).toBeUndefined();
  });

  it("remote-behind: its stream ends before what we already got (recreated): left alone", () => {
    const { report } = judge({ remote: { lastSeq: 3, messages: 3 } });
    expect(report).toMatchObject({ verdict: "remote-behind", mark: 7, remoteLastSeq: 3 });
    expect(report.detail).toBe("its last sequence 3 is below 7, already got: was the stream recreated?");
    expect(report.startSeq).toBeUndefined();
    // One below is behind too: nudging it would start past its end.
    expect(judge({ remote: { lastSeq: 6, messages: 6 } }).report.verdict).toBe("remote-behind");
  });

  it("nudged: silent with messages past the mark: re-added right after the mark", () => {
    expect(judge().report).toEqual({
      source: "CLOUD_AWS",
      api: "$JS.aws.API",
      verdict: "nudged",
      idleMs: 5000,
      mark: 7,
      remoteLastSeq: 10,
      startSeq: 8,
    });
  });

  it("stalled: the same, but dryRun keeps it from being nudged", () => {
    expect(judge({}, {}, { dryRun: true }).report).toMatchObject({ verdict: "stalled", startSeq: 8 });
  });

  it("counts silence from minIdleMs on, and every source as silent with minIdleMs 0", () => {
    expect(judge({ idleMs: 3000 }).report.verdict).toBe("nudged");
    expect(judge({ idleMs: 0 }, {}, { minIdleMs: 0 }).report.verdict).toBe("nudged");
  });

  it("resumes after the remembered mark once the stream holds nothing from the source (expired)", () => {
    const { report, mark } = judge({ held: undefined }, { mark: 5 });
    expect(report).toMatchObject({ verdict: "nudged", mark: 5, startSeq: 6 });
    expect(mark).toBe(5);
  });

  it("trusts what the stream holds over what was remembered", () => {
    expect(judge({ held: 4 }, { mark: 9 }).report).toMatchObject({ verdict: "nudged", mark: 4, startSeq: 5 });
  });

  it("takes an empty source stream's last sequence as the mark: nothing is left to fetch from it", () => {
    const { report, mark } = judge({ held: undefined, remote: { lastSeq: 12, messages: 0 } });
    expect(report).toMatchObject({ verdict: "caught-up", mark: 12 });
    expect(mark).toBe(12);
    // A healthy source learns it too (read now and then while nothing from it is held).
    expect(judge({ idleMs: 10, held: undefined, remote: { lastSeq: 12, messages: 0 } }).mark).toBe(12);
  });

  it("never lowers the mark to an empty stream's end: that stream was recreated", () => {
    expect(judge({ remote: { lastSeq: 2, messages: 0 } }).report).toMatchObject({ verdict: "remote-behind", mark: 7 });
  });
});

describe("the end-to-end check of a source that claims activity", () => {
  const active = { idleMs: 500 };
  it("notes when its stream holds messages past the mark, and clears it once they arrive", () => {
    const first = judge(active);
    expect(first.report.verdict).toBe("healthy");
    expect(first.behind).toEqual({ since: NOW, remoteLastSeq: 10 });
    // Still missing 8..10 a little later: the gap keeps its start.
    expect(judge(active, { behind: first.behind }, { now: NOW + 30_000 }).behind).toEqual(first.behind);
    // Message 10 arrived (more were written meanwhile): a new, later gap, if any.
    const later = judge(
      { ...active, held: 10, remote: { lastSeq: 12, messages: 12 } },
      { behind: first.behind },
      { now: NOW + 30_000 },
    );
    expect(later.behind).toEqual({ since: NOW + 30_000, remoteLastSeq: 12 });
    expect(judge({ ...active, held: 10 }, { behind: first.behind }).behind).toBeUndefined();
  });

  it("re-establishes it where it left off when the gap is a minute old, heartbeats or not", () => {
    const { report } = judge(active, { behind: { since: NOW - 60_000, remoteLastSeq: 9 } });
    expect(report).toMatchObject({ verdict: "lagging", startSeq: 8, remoteLastSeq: 9 });
    expect(report.detail).toMatch(/active, yet messages up to 9 of its stream have not arrived in 60000 ms/);
    expect(judge(active, { behind: { since: NOW - 60_000, remoteLastSeq: 9 } }, { dryRun: true }).report.verdict).toBe(
      "stalled",
    );
  });

  it("leaves alone a source taking only some of its stream's subjects: the rest is not owed", () => {
    const filtered = { source: AWS, idleMs: 500, held: 7, remote: { lastSeq: 10, messages: 10 }, filtered: true };
    const old = { behind: { since: NOW - 60_000, remoteLastSeq: 9 } };
    const { report, behind } = judgeSource(filtered, old, OPTIONS);
    expect(report.verdict).toBe("healthy");
    expect(behind).toBeUndefined();
  });
});

describe("learnMark", () => {
  it("ignores an unreadable stream and an empty one that adds nothing", () => {
    expect(learnMark(undefined, 3, { error: "timeout" })).toBe(3);
    expect(learnMark(undefined, undefined, { error: "timeout" })).toBeUndefined();
    expect(learnMark(5, undefined, { lastSeq: 5, messages: 0 })).toBe(5);
    expect(learnMark(undefined, undefined, { lastSeq: 0, messages: 0 })).toBe(0);
  });
});

describe("judgeMissingSource", () => {
  it("restored: added back right after the remembered mark", () => {
    expect(judgeMissingSource(AWS, { mark: 7 }, false)).toEqual({
      source: "CLOUD_AWS",
      api: "$JS.aws.API",
      verdict: "restored",
      idleMs: -1,
      detail: "missing from the stream config",
      mark: 7,
      startSeq: 8,
    });
  });

  it("restored without a start when nothing is remembered (the server resumes from the stream)", () => {
    const report = judgeMissingSource({ name: "LOCAL" }, {}, false);
    expect(report).toMatchObject({ source: "LOCAL", verdict: "restored" });
    expect(report).not.toHaveProperty("startSeq");
    expect(report).not.toHaveProperty("api");
  });

  it("stalled under dryRun", () => {
    expect(judgeMissingSource(AWS, { mark: 7 }, true).verdict).toBe("stalled");
  });
});

describe("updateFailed", () => {
  it("failed: says the update failed and why, and keeps the rest of the report", () => {
    const nudged = judge().report;
    expect(updateFailed(nudged, new Error("timeout"))).toEqual({
      ...nudged,
      verdict: "failed",
      detail: "stream update failed (timeout); retried on the next call",
    });
    expect(nudged.verdict).toBe("nudged");
    expect(updateFailed(judgeMissingSource(AWS, {}, false), "gone").detail).toBe(
      "stream update failed (gone); retried on the next call",
    );
  });
});

describe("idleness", () => {
  it("takes a reported activity (nanoseconds) and forgets any silence", () => {
    expect(idleness({ active: 1_499_600_000 }, NOW - 50_000, NOW)).toEqual({ idleMs: 1500, silentSince: undefined });
    expect(idleness({ active: 0 }, undefined, NOW)).toEqual({ idleMs: 0, silentSince: undefined });
  });

  it("counts a source never heard from (-1, or absent from the stream info) from when it was first seen so", () => {
    expect(idleness({ active: -1 }, undefined, NOW)).toEqual({ idleMs: 0, silentSince: NOW });
    expect(idleness(undefined, NOW - 4000, NOW)).toEqual({ idleMs: 4000, silentSince: NOW - 4000 });
    expect(isSilent(idleness({ active: -1 }, NOW - 4000, NOW).idleMs, 3000)).toBe(true);
  });
});

describe("what a check reads", () => {
  it("reads the sourcing stream again only when it changed, or when the source is silent", () => {
    expect(needsHeldRead({}, false, 40)).toBe(true);
    expect(needsHeldRead({ heldReadAt: 40 }, false, 40)).toBe(false);
    expect(needsHeldRead({ heldReadAt: 40 }, false, 41)).toBe(true);
    expect(needsHeldRead({ heldReadAt: 40 }, true, 40)).toBe(true);
  });

  it("reads the source's own stream when silent, or every REMOTE_REFRESH_MS (held or not: the end-to-end check)", () => {
    expect(needsRemoteRead({ held: 3 }, true, NOW)).toBe(true);
    expect(needsRemoteRead({ held: 3, remoteReadAt: NOW - 1 }, false, NOW)).toBe(false);
    expect(needsRemoteRead({ held: 3, remoteReadAt: 0 }, false, NOW)).toBe(true);
    expect(needsRemoteRead({ remoteReadAt: NOW - REMOTE_REFRESH_MS + 1 }, false, NOW)).toBe(false);
    expect(needsRemoteRead({ remoteReadAt: NOW - REMOTE_REFRESH_MS }, false, NOW)).toBe(true);
    expect(needsRemoteRead({}, false, NOW)).toBe(true);
  });
});

describe("the new sources", () => {
  const GCP: StreamSource = { name: "CLOUD_GCP", external: { api: "$JS.gcp.API" } };
  const AZURE: StreamSource = { name: "CLOUD_AZURE", external: { api: "$JS.azure.API" } };

  it("finds declared sources and unconfirmed re-adds missing from the config, once each", () => {
    const removedGcp = { ...GCP };
    expect(missingSources([GCP], [AWS, { name: "CLOUD_GCP", domain: "gcp" }], [])).toEqual([
      { name: "CLOUD_AWS", external: { api: "$JS.aws.API" } },
    ]);
    expect(missingSources([], [], [removedGcp, AZURE])).toEqual([removedGcp, AZURE]);
    expect(missingSources([AZURE], [{ name: "CLOUD_AZURE", domain: "azure" }], [AZURE])).toEqual([]);
  });

  it("puts re-added sources back in their places, starting where told", () => {
    const order = ["CLOUD_AWS@$JS.aws.API", "CLOUD_GCP@$JS.gcp.API", "CLOUD_AZURE@$JS.azure.API"];
    const current = [AZURE, { ...GCP, opt_start_seq: 3 }];
    const back = [
      { source: AWS, startSeq: 8 },
      { source: GCP, startSeq: undefined },
    ];
    expect(withReAdded(current, back, order)).toEqual([
      { name: "CLOUD_AWS", external: { api: "$JS.aws.API" }, opt_start_seq: 8 },
      GCP,
      AZURE,
    ]);
  });

  it("takes out only the opt_start_seq it put in, back to the declared one", () => {
    const injected: Record<string, SourceRecord["injected"]> = {
      CLOUD_AWS: { seq: 8, declared: undefined },
      CLOUD_GCP: { seq: 5, declared: 2 },
      CLOUD_AZURE: { seq: 9, declared: undefined },
    };
    const current: StreamSource[] = [
      { ...AWS, opt_start_seq: 8 },
      { ...GCP, opt_start_seq: 5 },
      { ...AZURE, opt_start_seq: 4 },
    ];
    const settled = new Set(["CLOUD_AWS@$JS.aws.API", "CLOUD_GCP@$JS.gcp.API", "CLOUD_AZURE@$JS.azure.API"]);
    expect(withoutInjected(current, settled, (s) => injected[s.name])).toEqual([
      AWS,
      { ...GCP, opt_start_seq: 2 },
      // Changed by someone else since: not ours to take out.
      { ...AZURE, opt_start_seq: 4 },
    ]);
    expect(withoutInjected(current, new Set(), (s) => injected[s.name])).toEqual(current);
  });
});
