import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../shared/errors.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import { cloudEventsStream, eventsStream, filesStream, workEventsStream } from "../../streams/definitions.ts";

describe("compileTopology", () => {
  it("fills documented defaults and turns units into bytes and milliseconds", () => {
    const t = compileTopology({ clouds: [{ name: "aws" }, { name: "gcp" }] });
    expect(t).toMatchObject({
      hubDomain: "hub",
      replicas: 3,
      chunkSizeBytes: 8 * 1024 * 1024,
      ackWaitMs: 10_000,
      maxAttempts: 10,
      eventMaxAgeMs: 7 * 86_400_000,
    });
    const workers = { ingest: 1, process: 1, place: 1, verify: 1 };
    expect(t.clouds).toEqual([
      { name: "aws", store: { kind: "fs" }, workers, sourceRoots: [homedir(), tmpdir()] },
      { name: "gcp", store: { kind: "fs" }, workers, sourceRoots: [homedir(), tmpdir()] },
    ]);
    expect(t.hub).toEqual({
      domain: "hub",
      nodes: 1,
      addresses: ["hub"],
      ports: { client: 4222, leaf: 7422, cluster: 6222, monitor: 8222 },
    });
  });

  it("takes each cloud's source roots as absolute folders, ~ for the home folder", () => {
    const t = compileTopology({ clouds: [{ name: "aws", sourceRoots: ["/data/in/", "~/datasets", "~"] }] });
    expect(t.clouds[0]?.sourceRoots).toEqual(["/data/in", join(homedir(), "datasets"), homedir()]);
  });

  it("adds a cloud with one config entry", () => {
    const t = compileTopology({ clouds: [{ name: "aws" }, { name: "gcp" }, { name: "azure" }, { name: "onprem" }] });
    expect(t.clouds.map((c) => c.name)).toEqual(["aws", "gcp", "azure", "onprem"]);
  });

  it.each([
    [{}, /clouds: expected a non-empty list/],
    [{ clouds: [{ name: "AWS" }] }, /clouds\[0\]\.name: "AWS" is not a valid name/],
    [{ clouds: [{ name: "aws" }, { name: "aws" }] }, /clouds\[1\]\.name: "aws" is used twice/],
    [{ clouds: [{ name: "hub" }] }, /is used twice/],
    [{ clouds: [{ name: "aws" }], chunkSize: "big" }, /chunkSize: "big" is not a size/],
    [{ clouds: [{ name: "aws" }], ackWait: "soon" }, /ackWait: "soon" is not a duration/],
    [{ clouds: [{ name: "aws" }], replicas: 0 }, /replicas: 0 is not a positive integer/],
    [{ clouds: [{ name: "aws", store: { kind: "tape" } }] }, /clouds\[0\]\.store\.kind: "tape" is not supported/],
    [{ clouds: [{ name: "aws" }], concurrency: { verify: -1 } }, /concurrency\.verify/],
    [
      { clouds: [{ name: "aws", sourceRoots: "/data" }] },
      /clouds\[0\]\.sourceRoots: expected a list of absolute folders/,
    ],
    [
      { clouds: [{ name: "aws", sourceRoots: ["data"] }] },
      /clouds\[0\]\.sourceRoots\[0\]: "data" is not an absolute folder/,
    ],
  ])("rejects %j naming the key and the bad value", (raw, message) => {
    expect(() => compileTopology(raw)).toThrow(ConfigError);
    expect(() => compileTopology(raw)).toThrow(message);
  });
});

describe("duplicateWindow", () => {
  it("defaults to 2 minutes, and every stream's JetStream duplicate window follows it", () => {
    const clouds = [{ name: "aws" }, { name: "gcp" }];
    expect(compileTopology({ clouds }).duplicateWindowMs).toBe(120_000);
    const t = compileTopology({ clouds, duplicateWindow: "3s" });
    for (const s of [filesStream(t), eventsStream(t), cloudEventsStream(t, "aws"), workEventsStream(t, "gcp")])
      expect(s.duplicate_window, s.name).toBe(3_000_000_000);
    expect(() => compileTopology({ clouds, duplicateWindow: "soon" })).toThrow(/duplicateWindow: "soon"/);
  });
});
