/** orchestrator/consumer-audit.ts: which FILES consumers hold requests they will never hand out again. */
import { describe, expect, it } from "vitest";
import { filesConsumers, strandedGap } from "../../orchestrator/consumer-audit.ts";
import { compileTopology } from "../../shared/topology/config.ts";

const info = (delivered: [number, number], floor: [number, number], ackPending: number) => ({
  delivered: { consumer_seq: delivered[0], stream_seq: delivered[1] },
  ack_floor: { consumer_seq: floor[0], stream_seq: floor[1] },
  num_ack_pending: ackPending,
});

describe("strandedGap", () => {
  it("names the requests delivered past the ack floor when none waits for an ack (seen after a meta leader's kill)", () => {
    expect(strandedGap(info([4, 4], [1, 1], 0))).toBe("2-4");
  });

  it("is quiet for a consumer that is caught up, or whose delivered requests wait for their acks", () => {
    expect(strandedGap(info([4, 4], [4, 4], 0))).toBeUndefined();
    expect(strandedGap(info([4, 4], [1, 1], 3))).toBeUndefined();
    expect(strandedGap(info([0, 0], [0, 0], 0))).toBeUndefined();
  });

  it("does not take a filtered consumer's stream sequence moving past other clouds' requests for a gap", () => {
    expect(strandedGap(info([3, 9], [3, 6], 0))).toBeUndefined();
  });
});

describe("filesConsumers", () => {
  it("lists every cloud's ingest-request and staging-collection consumer", () => {
    const t = compileTopology({ clouds: [{ name: "aws" }, { name: "gcp" }] });
    expect(filesConsumers(t).sort()).toEqual(["collect-aws", "collect-gcp", "ingest-aws", "ingest-gcp"]);
  });
});
