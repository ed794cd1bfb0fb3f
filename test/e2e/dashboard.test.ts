/**
 * The dashboard in a real headless Chromium (Debian's, driven by playwright-core) against a real
 * pipeline: a file ingested while the page is open appears, progresses and completes without a
 * reload, its user-given name is shown as text and never run as HTML, and a screenshot is kept.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Dashboard, startDashboard } from "../../dashboard/server.ts";
import { pollUntil } from "../../shared/retry.ts";
import { launchChromium } from "../helpers/browser.ts";
import { writeRandomFile } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { waitForValue } from "../helpers/wait.ts";

const ARTIFACTS = resolve(import.meta.dirname, "../../test-results");
const CHUNK = 64 * 1024; // the test pipeline's chunk size
const CHUNKS = 24;
/** Slow store writes (64 KiB in 0.25 s) so the file takes several seconds and its progress can be watched. */
const THROTTLE_BPS = 256 * 1024;
/** A file name a user could give; it must come out as text. */
const HOSTILE_NAME = `<img src=x onerror="window.__xss=1">shard-0.bin`;

let t: TestPipeline;
let dash: Dashboard;
let browser: Browser | undefined;
let opened: Page;

beforeAll(async () => {
  t = await startTestPipeline({ workerEnv: { FERRY_FS_THROTTLE_BPS: String(THROTTLE_BPS) } });
  dash = await startDashboard({ deployment: t.pipeline.deployment, port: 0 });
});
afterAll(async () => {
  await browser?.close();
  await dash?.close();
  await t?.stop();
});

/**
 * The page every test drives, in a browser launched on first use. Without Debian's chromium each
 * test fails (never skips) with the fix.
 */
async function openPage(): Promise<Page> {
  if (!browser) {
    browser = await launchChromium();
    opened = await browser.newPage({ viewport: { width: 1320, height: 1000 } });
  }
  return opened;
}

/** What the page shows for one file right now (read in one go in the page), or undefined while it has no row. */
async function fileRow(
  page: Page,
  fileId: string,
): Promise<{ state: string; progress: string; name: string } | undefined> {
  const row = await page.evaluate(`(() => {
    const row = document.querySelector('#files tr[data-file-id="${fileId}"]');
    return row && { state: row.dataset.state, progress: row.querySelector(".progress-text").textContent, name: row.querySelector(".name").textContent };
  })()`);
  return (row ?? undefined) as { state: string; progress: string; name: string } | undefined;
}

/** A global of the page (the test runs outside it, so it names it as a string). */
const pageGlobal = (page: Page, name: string): Promise<unknown> => page.evaluate(`window[${JSON.stringify(name)}]`);

describe("dashboard", () => {
  it("shows the topology, the workers and the stages as soon as it opens", async () => {
    const page = await openPage();
    const navigations: string[] = [];
    page.on("framenavigated", (f) => f === page.mainFrame() && navigations.push(f.url()));
    await page.goto(dash.url);
    await waitForValue("the page to go live", () => page.locator("#conn").textContent(), "live", 15_000);
    await page.waitForSelector("#stages tbody tr[data-stage]", { timeout: 15_000 });
    expect(await page.locator("#topology .leaf .pill").allTextContents()).toEqual(["linked", "linked", "linked"]);
    expect(
      await page.locator("#topology .leaf").evaluateAll((els) => els.map((e) => e.getAttribute("data-cloud"))),
    ).toEqual(["aws", "gcp", "azure"]);
    expect(await page.locator("#topology .leaf .workers").first().textContent()).toBe(
      "ingest 1process 1place 1verify 1",
    );
    expect(
      await page
        .locator("#stages tbody tr")
        .evaluateAll((rows) => rows.map((r) => [r.getAttribute("data-stage"), r.lastElementChild?.textContent])),
    ).toEqual([
      ["ingest", "3"],
      ["process", "3"],
      ["place", "3"],
      ["verify", "3"],
    ]);
    expect(navigations).toEqual([dash.url]);
  });

  it("follows a file ingested while the page is open from start to complete, without a reload", async () => {
    const page = await openPage();
    await page.evaluate("window.loadMarker = 42");
    const path = join(t.dir, "live.bin");
    writeRandomFile(path, CHUNKS * CHUNK);
    t.nc.publish("files.ingest", JSON.stringify({ fileId: "dashboard-live-1", path, name: HOSTILE_NAME }));

    const seen: Array<{ state: string; progress: string }> = [];
    await pollUntil(
      "the file to finish on the page",
      async () => {
        const row = await fileRow(page, "dashboard-live-1");
        if (row && (seen.length === 0 || seen.at(-1)!.progress !== row.progress || seen.at(-1)!.state !== row.state))
          seen.push({ state: row.state, progress: row.progress });
        return row?.state === "complete" || row?.state === "failed" || JSON.stringify(seen);
      },
      { timeoutMs: 90_000, intervalMs: 200, retryable: () => false },
    );
    // It appeared while in flight, showed progress strictly between none and all, never went backwards, and completed.
    expect(["ingesting", "processing"]).toContain(seen[0]!.state);
    const done = seen.map((s) => Number(s.progress.split(" / ")[0]));
    expect(done.some((n) => n > 0 && n < CHUNKS)).toBe(true);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(seen.at(-1)).toEqual({ state: "complete", progress: `${CHUNKS} / ${CHUNKS}` });
    // The same page all along.
    expect(await pageGlobal(page, "loadMarker")).toBe(42);

    // The user's file name is text: shown verbatim, no element made from it, no script run.
    expect((await fileRow(page, "dashboard-live-1"))!.name).toBe(HOSTILE_NAME);
    expect(await page.locator("#files img").count()).toBe(0);
    expect(await pageGlobal(page, "__xss")).toBeUndefined();

    // The replicas of all 24 chunks are counted in every cloud, and the stages measured the work.
    // Three leaves, each counting them: `every` alone would hold for a page that drew no leaf at all.
    await waitForValue(
      "every cloud to count the file's replicas",
      async () => {
        const leaves = await page.locator("#topology .leaf").allTextContents();
        return leaves.length === 3 && leaves.every((l) => l.includes(`${CHUNKS} replicas`));
      },
      true,
      15_000,
    );
    expect(await page.locator("#summary .card").first().textContent()).toContain("files in flight0");

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
    expect(existsSync(join(ARTIFACTS, "dashboard.png"))).toBe(true);
  });

  it("shows a leaf that lost its link to the hub in red and keeps updating", async () => {
    const page = await openPage();
    await t.pipeline.nats.leaves.gcp!.kill();
    const gcp = page.locator('#topology .leaf[data-cloud="gcp"]');
    await waitForValue("gcp to show as cut off", () => gcp.locator(".pill").textContent(), "NOT LINKED", 20_000);
    expect(await gcp.getAttribute("class")).toContain("cut");
    expect(await page.locator("#topology .leaf .pill").allTextContents()).toEqual(["linked", "NOT LINKED", "linked"]);
    // gcp's workers cannot be reached any more; the page still gets a snapshot every second or two.
    await waitForValue(
      "gcp's workers to be missing",
      () => gcp.locator(".workers").textContent(),
      "ingest 0process 0place 0verify 0",
      20_000,
    );
    const before = await page.locator("#updated").getAttribute("datetime");
    await waitForValue(
      "the next snapshot",
      async () => (await page.locator("#updated").getAttribute("datetime")) !== before,
      true,
      5_000,
    );
    expect(await page.locator("#conn").textContent()).toBe("live");
  });

  it("serves its state as JSON and refuses what it does not serve", async () => {
    const state = (await (await fetch(new URL("/api/state", dash.url))).json()) as {
      files: { complete: number };
      leaves: Array<{ linked: boolean }>;
    };
    expect(state.files.complete).toBe(1);
    expect(state.leaves.map((l) => l.linked)).toEqual([true, false, true]);
    expect((await fetch(new URL("/nope", dash.url))).status).toBe(404);
    expect((await fetch(new URL("/api/state", dash.url), { method: "POST" })).status).toBe(405);
    const home = await fetch(dash.url);
    expect(home.headers.get("content-security-policy")).toContain("script-src 'self'");
  });
});
