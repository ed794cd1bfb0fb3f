/**
 * Local paths in ingest requests: a request names the cloud whose hosts hold the file, and that
 * cloud's ingest worker reads it only under the cloud's source roots, never inside the deployment's
 * own folder. Real hub, leaves and worker processes; requests published as any NATS client would.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { submitIngest } from "../../client/ingest.ts";
import { checkIngestFile } from "../../client/preflight.ts";
import { encodeEvent } from "../../shared/events.ts";
import { ingestSubject } from "../../shared/subjects.ts";
import { adminOf } from "../../shared/topology/nats-identities.ts";
import { runCli } from "../helpers/cli.ts";
import { writeRandomFile } from "../helpers/files.ts";
import { ingestRequestsOnHub } from "../helpers/hub.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { finished, fsObjects, readBack } from "../helpers/pipeline-files.ts";

let t: TestPipeline;
/** gcp's only source root. */
const inbox = mkdtempSync(join(tmpdir(), "ferry-inbox-"));
/** Outside every root gcp has: stands for /etc. */
const secret = mkdtempSync(join(tmpdir(), "ferry-secret-"));
const shadow = join(secret, "shadow");

beforeAll(async () => {
  writeFileSync(shadow, "root:$6$not-for-you:19000:0:99999:7:::\n");
  symlinkSync(shadow, join(inbox, "innocent.txt"));
  mkdirSync(join(inbox, "sub"));
  t = await startTestPipeline({
    topology: { clouds: [{ name: "aws" }, { name: "gcp", sourceRoots: [inbox] }, { name: "azure" }] },
  });
});
afterAll(async () => {
  await t?.stop();
  rmSync(inbox, { recursive: true, force: true });
  rmSync(secret, { recursive: true, force: true });
});

/** Publishes a raw request for `cloud`, as any NATS client would, and waits for the file to finish. */
async function request(cloud: string, fileId: string, path: string) {
  await t.hubJs.publish(ingestSubject(cloud), encodeEvent({ fileId, path }), { msgID: `ingest:${fileId}` });
  return finished(t, fileId);
}

describe("a local path in an ingest request", () => {
  it("completes on the cloud it names when the file is under that cloud's roots", async () => {
    const path = join(inbox, "sub", "train.bin");
    const sha256 = writeRandomFile(path, 200 * 1024);
    const { fileId } = await submitIngest(t.hubJs, await checkIngestFile(path), { cloud: "gcp" });
    const f = await finished(t, fileId);
    expect(f.state, f.reason).toBe("complete");
    expect(f.stagingClouds).toEqual(["gcp"]);
    expect(await readBack(t, fileId)).toBe(sha256);
  });

  it.each([
    ["a file outside the roots", "outside-1", () => shadow, `source ${shadow} is outside`],
    [
      "a symlink inside a root that points outside",
      "symlink-out-1",
      () => join(inbox, "innocent.txt"),
      `source ${join(inbox, "innocent.txt")} (resolves to ${shadow}) is outside`,
    ],
    ["a .. escape", "dotdot-1", () => `${inbox}/sub/../../${secret.split("/").pop()}/shadow`, "is outside"],
  ])("refuses %s, naming the roots, and stages nothing", async (_what, fileId, path, start) => {
    const f = await request("gcp", fileId, path());
    expect(f.state).toBe("failed");
    expect(f.reason).toContain(start);
    expect(f.reason).toContain(`outside cloud gcp's source roots (${inbox}): refused, nothing was read`);
    expect(f.chunkCount ?? 0).toBe(0);
    expect(fsObjects(t, "gcp", `staging/${fileId}/`)).toEqual([]);
  });

  it("refuses the deployment's own files even under a root", async () => {
    // aws keeps the default roots (home and temp folder), which hold the test's deployment folder.
    const own = join(t.pipeline.deployment.dataDir, "deployment.json");
    const f = await request("aws", "own-files-1", own);
    expect(f.state).toBe("failed");
    expect(f.reason).toContain(`source ${own} is inside ferry's own folder`);
    expect(fsObjects(t, "aws", "staging/own-files-1/")).toEqual([]);
  });

  it("is refused by ferry ingest before anything is published, naming the roots", async () => {
    const before = await ingestRequestsOnHub(t.pipeline.deployment.hub.url, "hub", adminOf(t.pipeline.deployment));
    const r = await runCli(["ingest", shadow, "--cloud", "gcp", "--home", t.pipeline.deployment.dataDir]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("nothing was ingested");
    expect(r.stderr).toContain(`outside cloud gcp's source roots (${inbox})`);
    expect(await ingestRequestsOnHub(t.pipeline.deployment.hub.url, "hub", adminOf(t.pipeline.deployment))).toEqual(
      before,
    );
  });
});
