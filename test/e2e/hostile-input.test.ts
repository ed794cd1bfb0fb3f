/**
 * Hostile input on a deployment started with `ferry up`. Requests that break the schema's limits
 * are dead-lettered with their reason while the workers stay up. File names are data only. A corpus of hostile display names (path traversal, NUL, ESC sequences,
 * `*`, `>`, `.`, spaces, RTL overrides, HTML) goes through a deployment started with `ferry up`:
 * ingested by a plain NATS client and by `ferry ingest`, shown by `ferry status`, fetched by
 * `ferry get`, and watched in the dashboard in headless Chromium. No name reaches a subject, an
 * object key, a path or raw HTML, and the terminal never receives a raw control character.
 */
import { mkdirSync, readdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { printable } from "../../cli/terminal-text.ts";
import { type FileRecord, openManifest, readFileRecord } from "../../shared/manifest.ts";
import { connectNats } from "../../shared/nats/connect.ts";
import { EVENTS_STREAM } from "../../shared/stream-names.ts";
import { fsRoot, hubUrls } from "../../shared/topology/deployment.ts";
import { cliOf } from "../../shared/topology/nats-identities.ts";
import { readRunState } from "../../supervisor/run-state.ts";
import { launchChromium } from "../helpers/browser.ts";
import { runCli } from "../helpers/cli.ts";
import { type CliDeployment, upWithCli } from "../helpers/cli-deployment.ts";
import { eventually, listFiles, sha256File, writeRandomFile } from "../helpers/files.ts";

const CLOUDS = ["aws", "gcp", "azure"];

/** Names a user (or an attacker) can give; every one must come back exactly, as text. */
const CORPUS = [
  "../../../../../../tmp/ferry-traversal-escaped.bin",
  "/etc/ferry-absolute.bin",
  "nul\u0000byte.bin",
  "esc\u001b[2J\u001b[31mred\u001b]0;pwned\u0007title.bin",
  "carriage\rreturn\nnew line\ttab\b.bin",
  "c1\u009b31m\u0085.bin",
  "rtl\u202egpj.exe",
  "isolate\u2066x\u2069\u200f\u2028sep.bin",
  "files.ingest.*.>",
  "*",
  ">",
  ".",
  "..",
  " ",
  "  spaced   name  ",
  "chunks/evil/0-deadbeef",
  `<img src=x onerror="window.__xss=1">.bin`,
  "<script>window.__xss=2</script>",
  "$(touch /tmp/ferry-pwned) `id`.bin",
  "é".repeat(512),
] as const;

/** What a terminal acts on: C0 controls but newline, DEL, C1 controls, bidi controls, separators. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

let d: CliDeployment;
let nc: NatsConnection;
let kv: KV;
let browser: Browser | undefined;
let page: Page;
const ids = CORPUS.map((_, i) => `hostile-name-${i}`);
const sizes = CORPUS.map((_, i) => 1000 + i * 9000);

beforeAll(async () => {
  d = await upWithCli({ chunkSize: "64KiB", stores: "fs" });
  nc = await connectNats(hubUrls(d.deployment), "hostile-names-test", cliOf(d.deployment));
  kv = await openManifest(jetstream(nc, { domain: d.deployment.topology.hubDomain }));
});
afterAll(async () => {
  await browser?.close();
  await nc?.close();
  await d?.down();
});

const finished = (fileId: string): Promise<FileRecord> =>
  eventually(
    async () => {
      const f = await readFileRecord(kv, fileId);
      return f?.state === "complete" || f?.state === "failed" ? f : undefined;
    },
    90_000,
    `${fileId} to finish`,
  );

/** The dashboard's rows for these files, as the page shows them, once it shows them all. */
async function dashboardRows(fileIds: string[]): Promise<Array<{ id: string; name: string; html: string }>> {
  const want = JSON.stringify(fileIds);
  return eventually(
    async () => {
      const rows = (await page.evaluate(`${want}.map((id) => {
        const row = document.querySelector('#files tr[data-file-id="' + id + '"]');
        const cell = row && row.querySelector(".name");
        return cell && { id, name: cell.textContent, html: cell.innerHTML };
      })`)) as Array<{ id: string; name: string; html: string } | null>;
      return rows.every((r) => r !== null) ? (rows as Array<{ id: string; name: string; html: string }>) : undefined;
    },
    60_000,
    `the dashboard to show ${fileIds.join(", ")}`,
  );
}

describe("hostile file names", () => {
  it("ingest through any NATS client keeps every name exactly, and shows it as text in the dashboard", async () => {
    browser = await launchChromium();
    page = await browser.newPage();
    const dashboardUrl = readRunState(d.home)?.dashboardUrl;
    expect(dashboardUrl, "ferry up records the dashboard's URL").toBeTruthy();
    await page.goto(dashboardUrl!);
    // The dashboard lists 8 finished files: publish the corpus 7 at a time and check each batch.
    for (let from = 0; from < CORPUS.length; from += 7) {
      const batch = ids.slice(from, from + 7);
      for (const [j, fileId] of batch.entries()) {
        const path = join(d.work, `plain-${from + j}.bin`);
        writeRandomFile(path, sizes[from + j]!);
        nc.publish("files.ingest", JSON.stringify({ fileId, path, name: CORPUS[from + j] }));
      }
      for (const [j, fileId] of batch.entries()) {
        const f = await finished(fileId);
        expect({ state: f.state, reason: f.reason }).toEqual({ state: "complete", reason: undefined });
        expect(f.name).toBe(CORPUS[from + j]);
      }
      const rows = await dashboardRows(batch);
      expect(rows.map((r) => r.name)).toEqual(batch.map((_, j) => CORPUS[from + j]));
      // Text only: no element was made from a name.
      for (const r of rows) expect(r.html).not.toMatch(/<(img|script)/);
    }
    expect(await page.locator("#files img, #files script").count()).toBe(0);
    expect(await page.evaluate("window.__xss")).toBeUndefined();
  });

  it("puts no name in a subject, an object key, a manifest key or a path", async () => {
    const jsm = await jetstream(nc, { domain: d.deployment.topology.hubDomain }).jetstreamManager();
    const subjects = Object.keys(
      (await jsm.streams.info(EVENTS_STREAM, { subjects_filter: ">" })).state.subjects ?? {},
    );
    expect(subjects.length).toBeGreaterThan(0);
    for (const s of subjects) expect(s).toMatch(/^[a-z0-9-]+(\.[a-z0-9-]+)*$/);
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    expect(keys).toEqual(expect.arrayContaining(ids.map((id) => `file.${id}`)));
    for (const k of keys) expect(k).toMatch(/^[a-z0-9._-]+$/);
    for (const cloud of CLOUDS) {
      const objects = listFiles(fsRoot(d.deployment, cloud));
      expect(objects.filter((o) => o.startsWith(`chunks/${ids[1]}/`)).length).toBeGreaterThan(0);
      // Keys are built from the file id, index and hash only (staging may not be collected yet).
      const key = /^(\.tmp\/[0-9a-f-]+\.part|chunks\/[a-z0-9-]+\/\d+-[0-9a-f]{64}|staging\/[a-z0-9-]+\/\d+)$/;
      for (const o of objects) expect(o).toMatch(key);
    }
    // Nothing was written where a name points.
    expect(readdirSync("/tmp").filter((f) => f.startsWith("ferry-traversal") || f === "ferry-pwned")).toEqual([]);
  });

  it("ferry status prints every name with its control characters escaped", async () => {
    // The names a terminal would act on (each run starts a process, so not all twenty).
    for (const i of [2, 3, 4, 5, 6, 7, 16]) {
      const fileId = ids[i]!;
      const r = await runCli(["status", fileId], { env: d.env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.split("\n")[0]).toBe(`${fileId}  ${printable(CORPUS[i]!)}`);
      expect(r.stdout).not.toMatch(RAW_CONTROL);
    }
    const json = await runCli(["status", ids[3]!, "--json"], { env: d.env });
    expect((JSON.parse(json.stdout) as { name: string }).name).toBe(CORPUS[3]);
  });

  it("ferry status and dead-letters escape a failed file's name and reason; a name beyond 1024 bytes is refused", async () => {
    // Fails in process (not JSON lines), after ingest recorded its name.
    const notJson = join(d.work, "not-json.jsonl");
    writeFileSync(notJson, "this is not json\n");
    const req = { fileId: "hostile-failed-1", path: notJson, name: "gone\u001b[31m", transforms: ["validate-jsonl"] };
    nc.publish("files.ingest", JSON.stringify(req));
    const missing = join(d.work, "missing\u001b[2J\u202e.bin");
    nc.publish("files.ingest", JSON.stringify({ fileId: "hostile-missing-1", path: missing }));
    nc.publish("files.ingest", JSON.stringify({ fileId: "hostile-long-1", path: missing, name: "n".repeat(1025) }));
    expect((await finished("hostile-failed-1")).state).toBe("failed");
    expect((await finished("hostile-missing-1")).reason).toMatch(/does not exist/);
    expect((await finished("hostile-long-1")).reason).toMatch(/"name" is 1025 bytes long, more than the 1024 allowed/);
    const r = await runCli(["status"], { env: d.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("hostile-failed-1  gone\\x1b[31m  failed: ");
    expect(r.stdout).toContain("missing\\x1b[2J\\u202e.bin does not exist");
    expect(r.stdout).not.toMatch(RAW_CONTROL);
    const letters = await runCli(["dead-letters"], { env: d.env });
    expect(letters.code, letters.stderr).toBe(0);
    expect(letters.stdout).toContain("missing\\x1b[2J\\u202e.bin does not exist");
    expect(letters.stdout).not.toMatch(RAW_CONTROL);
  });

  it("ferry ingest takes a file whose own name is hostile and prints it escaped", async () => {
    const dir = join(d.work, "cli-names");
    mkdirSync(dir);
    const name = "cli\u001b[2J \u202egpj.exe *>.. $(id)\r.bin";
    const path = join(dir, name);
    writeFileSync(path, "a line of data\n".repeat(5000));
    const r = await runCli(["ingest", path, "--wait"], { env: d.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(RAW_CONTROL);
    const [fileId, ...rest] = r.stdout.trim().split("  ");
    expect(rest).toEqual([printable(name), "complete"]);
    expect((await readFileRecord(kv, fileId!))?.name).toBe(name);
  });

  it("ferry get writes only where -o says, whatever the name", async () => {
    for (const i of [0, 1, 15]) {
      const out = join(d.work, `get-${i}`);
      mkdirSync(out);
      const r = await runCli(["get", ids[i]!, "-o", join(out, "file.bin")], { env: d.env });
      expect(r.code, r.stderr).toBe(0);
      expect(readdirSync(out)).toEqual(["file.bin"]);
      expect(sha256File(join(out, "file.bin"))).toBe(sha256File(join(d.work, `plain-${i}.bin`)));
    }
    expect(readdirSync(d.work).filter((f) => f.includes("traversal") || f === "etc")).toEqual([]);
  });
});

describe("ingest requests outside the schema's limits", () => {
  it("are dead-lettered with a reason naming the limit, and every ingest worker stays up", async () => {
    const pids = CLOUDS.map((c) => d.pid(`ingest-${c}`));
    const path = join(d.work, "limits.bin");
    writeRandomFile(path, 5000);
    // 2 GiB with no data written: at 1 KiB chunks, 2^21 chunks, twice the limit, refused before a byte is read.
    const sparse = join(d.work, "sparse.bin");
    writeFileSync(sparse, "");
    truncateSync(sparse, 2 * 1024 ** 3);
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ path, chunk_size: 4096 }, /unknown field "chunk_size"/],
      [{ path, chunkSize: 16 }, /"chunkSize" must be between 1 KiB and 1 GiB/],
      [{ path, chunkSize: -1 }, /chunkSize/],
      [{ path, chunkSize: 1e300 }, /chunkSize/],
      [{ path: `${path}\u0000.evil` }, /"path" holds a NUL character/],
      [{ path: `/${"p".repeat(5000)}` }, /"path" is 5001 bytes long, more than the 4096 allowed/],
      [{ path, transforms: ["validate-jsonl", "validate-jsonl"] }, /each at most once/],
      [{ path, recordBoundaries: "yes" }, /"recordBoundaries" must be true or false/],
      [{ path: sparse, chunkSize: 1024 }, /more than 1048576 chunks of 1024 bytes: ingest it with a larger chunkSize/],
    ];
    for (const [i, [req]] of cases.entries())
      nc.publish("files.ingest", JSON.stringify({ fileId: `over-limit-${i}`, ...req }));
    for (const [i, [, reason]] of cases.entries()) {
      const f = await finished(`over-limit-${i}`);
      expect({ state: f.state, reason: f.reason }).toEqual({ state: "failed", reason: expect.stringMatching(reason) });
      expect(f.reason!.length).toBeLessThan(600);
    }
    // The same worker processes took them all, and a good request right after still goes through.
    expect(CLOUDS.map((c) => d.pid(`ingest-${c}`))).toEqual(pids);
    nc.publish("files.ingest", JSON.stringify({ fileId: "after-limits-1", path }));
    expect((await finished("after-limits-1")).state).toBe("complete");
  });

  it("are refused by ferry ingest before anything is published", async () => {
    const path = join(d.work, "cli-limits.bin");
    writeRandomFile(path, 5000);
    const r = await runCli(["ingest", path, "--chunk-size", "100"], { env: d.env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--chunk-size: 100 is not between 1KiB and 1GiB/);
    expect(r.stdout).toBe("");
  });
});
