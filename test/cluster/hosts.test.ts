/**
 * Hosts that share nothing but TCP (chaos/hosts): a 3-node hub host and aws, gcp and azure hosts,
 * each `ferry up --role ... --home <own folder>` in a mount namespace of its own where the other
 * hosts' folders and the client's do not exist, every link between them through toxiproxy with
 * inter-region latency. The short form of `./ferry chaos hosts`: small files, one round each.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processesIn } from "../../chaos/hosts/host-namespace.ts";
import { type HostsDrillReport, removeDrillFolder, runHostsDrill } from "../../chaos/hosts/hosts-drill.ts";

let root: string;
let report: HostsDrillReport;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "ferry-hosts-"));
  report = await runHostsDrill({
    root,
    files: 2,
    size: 200 * 1024,
    chunkSize: 64 * 1024,
    bandwidthKBps: 25_000,
    say: () => undefined,
  });
}, 240_000);
afterAll(() => removeDrillFolder(root));

describe("hosts that share nothing but TCP", () => {
  it("each host reads its own folder and no other host's, nor the client's", () => {
    expect(report.isolation.map((v) => v.host).sort()).toEqual(["aws", "azure", "client", "gcp", "hub"]);
    for (const v of report.isolation) {
      expect(v.readsOwnFolder, v.host).toBe(true);
      expect(v.seesOthers, v.host).toEqual([]);
      expect(v.strayEnv, v.host).toEqual([]);
    }
  });

  it("each leaf's link to the hub goes through its proxy, even after the hub node was killed", () => {
    expect(report.leafRoutes.map((l) => l.cloud).sort()).toEqual(["aws", "azure", "gcp"]);
    for (const l of report.leafRoutes) expect(l.throughProxy, `${l.cloud} dials port ${l.port}`).toBe(true);
  });

  it("files uploaded from the client complete over WAN latency and over loopback", () => {
    for (const round of [report.wan, report.loopback]) {
      expect(round.files).toHaveLength(2);
      for (const f of round.files) expect(f.state, f.reason).toBe("complete");
    }
  });

  it("s3://, gs:// and az:// sources complete while a hub node is SIGKILLed", () => {
    expect(report.killedHubNode.name).toMatch(/^hub-[123]$/);
    expect(report.urls.files.map((f) => f.name).sort()).toEqual(["aws-part.bin", "azure-part.bin", "gcp-part.bin"]);
    for (const f of report.urls.files) expect(f.state, f.reason).toBe("complete");
  });

  it("every file reads back identical from every cloud on the client host", () => {
    expect(report.readBacks).toHaveLength(7 * 3);
    for (const r of report.readBacks)
      expect(r.identical, `${r.fileId} from ${r.cloud} (${r.how}): ${r.error}`).toBe(true);
    expect(new Set(report.readBacks.map((r) => r.how))).toEqual(new Set(["get", "cat"]));
  });

  it("leaves no process of any host behind", () => {
    expect(Object.keys(report.namespaces).sort()).toEqual(["aws", "azure", "gcp", "hub"]);
    for (const [host, ns] of Object.entries(report.namespaces)) expect(processesIn(ns), host).toEqual([]);
  });
});
