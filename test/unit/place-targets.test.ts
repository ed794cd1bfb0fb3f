/** shared/placement.ts: which clouds hold a chunk's replicas. */
import { describe, expect, it } from "vitest";
import { chooseTargets, failoverTargets, isShortOfClouds, overdueClouds } from "../../shared/placement.ts";

describe("chooseTargets", () => {
  it("puts the chunk's own cloud first and never picks a cloud twice", () => {
    expect(chooseTargets(["aws", "gcp", "azure"], "gcp", 3)).toEqual(["gcp", "aws", "azure"]);
    expect(chooseTargets(["aws", "gcp", "azure"], "azure", 2)).toEqual(["azure", "aws"]);
    expect(chooseTargets(["aws", "gcp"], "aws", 3)).toEqual(["aws", "gcp"]);
  });

  it("keeps topology order when the home cloud is not in the list, and picks nothing for 0 replicas", () => {
    expect(chooseTargets(["aws", "gcp", "azure"], "onprem", 2)).toEqual(["aws", "gcp"]);
    expect(chooseTargets(["aws", "gcp", "azure"], "gcp", 0)).toEqual([]);
  });
});

describe("failoverTargets", () => {
  const clouds = ["aws", "gcp", "azure", "oci"];
  const view = (over: Partial<Parameters<typeof failoverTargets>[0]>) => ({
    clouds,
    replicas: 3,
    assigned: ["aws", "gcp", "azure"].map((cloud) => ({ cloud, at: 0 })),
    verified: ["aws", "azure"],
    reachable: new Set(clouds),
    now: 60_000,
    deadlineMs: 60_000,
    ...over,
  });

  it("asks nothing while a cloud asked is within its deadline", () => {
    expect(failoverTargets(view({ now: 59_999 }))).toEqual([]);
    expect(failoverTargets(view({ verified: ["aws", "gcp", "azure"] }))).toEqual([]);
  });

  it("passes a cloud past its deadline over for one that holds nothing, was never asked and answers", () => {
    expect(failoverTargets(view({}))).toEqual(["oci"]);
    expect(failoverTargets(view({ reachable: new Set(["aws", "gcp", "azure"]) }))).toEqual([]);
  });

  it("waits on a failover cloud within its own deadline, and never asks a cloud twice", () => {
    const assigned = [...view({}).assigned, { cloud: "oci", at: 60_000 }];
    expect(failoverTargets(view({ assigned, now: 90_000 }))).toEqual([]);
    expect(failoverTargets(view({ assigned, now: 120_000 }))).toEqual([]);
  });

  it("asks as many clouds as replicas are missing, in topology order", () => {
    const five = [...clouds, "ibm"];
    expect(failoverTargets(view({ clouds: five, verified: ["aws"], reachable: new Set(five) }))).toEqual([
      "oci",
      "ibm",
    ]);
  });

  it("picks in order of preference (the healthiest, fastest stores first) when one is given", () => {
    const five = [...clouds, "ibm"];
    const v = view({ clouds: five, reachable: new Set(five), preference: ["ibm", "aws", "gcp", "azure", "oci"] });
    expect(failoverTargets(v)).toEqual(["ibm"]);
    expect(failoverTargets({ ...v, reachable: new Set(clouds) })).toEqual(["oci"]);
  });
});

describe("isShortOfClouds", () => {
  const clouds = ["aws", "gcp", "azure", "oci"];
  // gcp and oci both silent: oci was asked in gcp's place and is past its own deadline too.
  const view = (over: Partial<Parameters<typeof isShortOfClouds>[0]>) => ({
    clouds,
    replicas: 3,
    assigned: [...["aws", "gcp", "azure"].map((cloud) => ({ cloud, at: 0 })), { cloud: "oci", at: 60_000 }],
    verified: ["aws", "azure"],
    reachable: new Set(["aws", "azure"]),
    now: 120_000,
    deadlineMs: 60_000,
    ...over,
  });

  it("is short when every cloud asked and unverified is past its deadline and silent, with none left to ask", () => {
    expect(isShortOfClouds(view({}))).toBe(true);
    expect(overdueClouds(view({}))).toEqual(["gcp", "oci"]);
  });

  it("waits on a cloud within its deadline, and on one past it that still answers (slow, not gone)", () => {
    expect(isShortOfClouds(view({ now: 119_999 }))).toBe(false);
    expect(isShortOfClouds(view({ reachable: new Set(["aws", "azure", "oci"]) }))).toBe(false);
  });

  it("is not short with a cloud left to fail over to, with every replica verified, or with none verified", () => {
    const assigned = ["aws", "gcp", "azure"].map((cloud) => ({ cloud, at: 0 }));
    expect(isShortOfClouds(view({ assigned, reachable: new Set(["aws", "azure", "oci"]) }))).toBe(false);
    expect(isShortOfClouds(view({ verified: ["aws", "azure", "oci"] }))).toBe(false);
    expect(isShortOfClouds(view({ verified: [] }))).toBe(false);
    expect(overdueClouds(view({ verified: ["aws", "gcp", "azure", "oci"] }))).toEqual([]);
    expect(overdueClouds(view({ now: 119_999 }))).toEqual(["gcp"]);
  });
});
