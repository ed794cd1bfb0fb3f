/**
 * A file's trace drawn by the dashboard itself (the Jaeger our set-up builds has no UI): a real
 * Jaeger, a real pipeline exporting to it, a file ingested through a traced publish with one replica
 * failing once, and the dashboard's /trace/<traceId> page in a real headless Chromium, reached by the
 * trace link on the dashboard's file row.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForFiles } from "../../client/ingest.ts";
import { type Dashboard, startDashboard } from "../../dashboard/server.ts";
import type { TraceView } from "../../dashboard/trace-view.ts";
import { publishTraced } from "../../observability/message-spans.ts";
import { initTracing, type Tracing } from "../../observability/tracing.ts";
import { replicaKey } from "../../shared/chunk-keys.ts";
import { encodeEvent } from "../../shared/events.ts";
import { pollUntil } from "../../shared/retry.ts";
import { type LocalJaeger, startLocalJaeger } from "../../supervisor/jaeger-server.ts";
import { freePorts } from "../../supervisor/ports.ts";
import { launchChromium } from "../helpers/browser.ts";
import { sha256 } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";
import { waitForValue } from "../helpers/wait.ts";

const ARTIFACTS = resolve(import.meta.dirname, "../../test-results");
const CHUNK = 64 * 1024; // the test pipeline's chunk size
const CHUNKS = 3;
const STAGE_SERVICES = ["ferry-ingest", "ferry-process", "ferry-place", "ferry-verify"];

let dir: string;
let jaeger: LocalJaeger | undefined;
let t: TestPipeline | undefined;
let tracing: Tracing | undefined;
let dash: Dashboard | undefined;
let bare: Dashboard | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-dashboard-trace-"));
  const [otlpPort, queryPort] = await freePorts(2);
  jaeger = await startLocalJaeger({
    otlpPort: otlpPort!,
    queryPort: queryPort!,
    dataDir: join(dir, "jaeger"),
    logFile: join(dir, "jaeger.log"),
  });
  t = await startTestPipeline({
    workerEnv: { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpUrl, OTEL_BSP_SCHEDULE_DELAY: "100" },
  });
  process.env.OTEL_BSP_SCHEDULE_DELAY = "100";
  tracing = initTracing({ service: "ferry-cli", otlpUrl: jaeger.otlpUrl });
  // As `ferry up` writes it: the deployment knows its Jaeger.
  dash = await startDashboard({
    deployment: { ...t.pipeline.deployment, jaeger: { otlpUrl: jaeger.otlpUrl, queryUrl: jaeger.queryUrl } },
    port: 0,
  });
  // One without a Jaeger, as a deployment is when the jaeger binary is missing.
  bare = await startDashboard({ deployment: t.pipeline.deployment, port: 0 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await bare?.close();
  await dash?.close();
  await tracing?.shutdown();
  await t?.stop();
  await jaeger?.process.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function openPage(): Promise<Page> {
  browser ??= await launchChromium();
  return browser.newPage({ viewport: { width: 1320, height: 1000 } });
}

const apiTrace = (id: string) => fetch(new URL(`/api/trace/${id}`, dash!.url));

/**
 * The trace through the dashboard's /api/trace once it is whole. Every verify span is not enough: the
 * orchestrator's last spans (its chunks.verified delivery, the files.completed publish) can still be on
 * their way. So: every verify span, the files.completed publish, no span whose parent is missing (one
 * root), and the same span count in two reads a second apart (the exporters here send every 100 ms).
 */
async function wholeTrace(traceId: string): Promise<TraceView> {
  let trace: TraceView | undefined;
  let countBefore = -1;
  await pollUntil(
    "the file's whole trace through the dashboard's /api/trace",
    async () => {
      const res = await apiTrace(traceId);
      if (res.status !== 200) return `HTTP ${res.status}`;
      trace = (await res.json()) as TraceView;
      const spans = trace.spans;
      const verified = spans.filter((s) => s.service === "ferry-verify" && s.operation.startsWith("process ")).length;
      const completed = spans.some(
        (s) => s.service === "ferry-orchestrator" && s.operation === "publish files.completed",
      );
      const roots = spans.filter((s) => s.depth === 0).length;
      const steady = spans.length === countBefore;
      countBefore = spans.length;
      return (
        (verified === CHUNKS * 3 && completed && roots === 1 && steady) ||
        `${spans.length} spans, ${verified}/${CHUNKS * 3} verify spans, files.completed ${completed ? "published" : "not published yet"}, ${roots} root(s)`
      );
    },
    { timeoutMs: 60_000, intervalMs: 1000, retryable: () => false },
  );
  return trace!;
}

describe("the dashboard's trace page", () => {
  it("draws a file's trace, reached from its row, with every stage, the target clouds and a failed replica in red", async () => {
    const fileId = "dash-trace-1";
    const path = join(dir, "traced.bin");
    const data = randomBytes(CHUNKS * CHUNK);
    writeFileSync(path, data);
    // A damaged object under chunk 1's gcp replica key: the first place attempt fails with an exception, the retry copies it.
    await t!.stores
      .get("gcp")!
      .put(replicaKey(fileId, 1, sha256(data.subarray(CHUNK, 2 * CHUNK))), Readable.from([Buffer.alloc(10, 7)]));
    const { traceId } = await publishTraced(
      t!.hubJs,
      "files.ingest",
      encodeEvent({ fileId, path, name: "traced.bin" }),
      { msgID: `ingest:${fileId}` },
      { root: true },
    );
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const file = (await waitForFiles(t!.kv, [fileId], () => undefined, 90_000)).get(fileId)!;
    expect(file.state).toBe("complete");

    // The page draws what Jaeger has when it asks, so the trace must be whole before it is read here.
    const trace = await wholeTrace(traceId!);
    expect(trace.traceId).toBe(traceId);
    expect(trace.spans[0]).toMatchObject({
      depth: 0,
      service: "ferry-cli",
      operation: "publish files.ingest",
      startMs: 0,
    });

    // The dashboard's file row links to its own trace page, and to Jaeger's for a Jaeger with a UI.
    const page = await openPage();
    await page.goto(dash!.url);
    const row = page.locator(`#files tr[data-file-id="${fileId}"]`);
    await row.waitFor({ timeout: 20_000 });
    expect(await row.locator("a.trace-link").getAttribute("href")).toBe(`/trace/${traceId}`);
    expect(await row.locator("a.jaeger-link").getAttribute("href")).toBe(`${jaeger!.queryUrl}/trace/${traceId}`);
    await row.locator("a.trace-link").click();
    await page.waitForURL(`${dash!.url}trace/${traceId}`);

    // Rows for all four stages, on one time axis, indented under their parents.
    const services = () =>
      page.locator("#waterfall .span").evaluateAll((els) => els.map((e) => e.getAttribute("data-service")));
    await waitForValue(
      "rows of all four stages",
      async () => {
        const shown = await services();
        return STAGE_SERVICES.every((s) => shown.includes(s));
      },
      true,
      20_000,
    );
    expect(await page.locator("#waterfall .span").count()).toBe(trace.spans.length);
    expect(await page.locator("#trace-id").textContent()).toBe(traceId);
    const first = page.locator("#waterfall .span").first();
    expect(await first.locator(".service").textContent()).toBe("ferry-cli");
    expect(await first.locator(".span-start").textContent()).toBe("0.00 ms");
    expect(
      Number(await page.locator('#waterfall .span[data-service="ferry-verify"]').first().getAttribute("data-depth")),
    ).toBeGreaterThan(5);

    // A place replica row names its target cloud, and expanding it shows its store kind, bucket and key.
    const placeRows = page
      .locator('#waterfall .span[data-service="ferry-place"]')
      .filter({ has: page.locator(".operation", { hasText: /^place replica$/ }) });
    // Each chunk to every cloud, by that cloud's place worker; the retried chunk's second attempt is gcp's alone.
    const placed = trace.spans
      .filter((x) => x.operation === "place replica")
      .map((x) => `@${x.attributes.find((a) => a.key === "cloud.provider")?.value}`)
      .sort();
    expect(placed.length).toBe(CHUNKS * 3 + 1);
    expect(new Set(placed)).toEqual(new Set(["@aws", "@gcp", "@azure"]));
    expect((await placeRows.locator(".cloud").allTextContents()).map((c) => c.trim()).sort()).toEqual(placed);
    const aws = placeRows.filter({ has: page.locator(".cloud", { hasText: "@aws" }) }).first();
    await aws.locator(".span-head").click();
    const details = await aws.locator(".span-details dl").textContent();
    expect(details).toContain("cloudaws");
    expect(details).toMatch(/store kind\S+bucket\S+keychunks\/dash-trace-1\/\d-[0-9a-f]{64}file id/);
    expect(details).toContain("file iddash-trace-1");

    // The failed gcp attempt is red, with its exception message on the row.
    const failed = page
      .locator("#waterfall .span.error")
      .filter({ has: page.locator(".operation", { hasText: /^place replica$/ }) });
    expect(await failed.count()).toBe(1);
    expect(await failed.locator(".cloud").textContent()).toBe(" @gcp");
    expect(await failed.locator(".span-error").textContent()).toMatch(
      /had 10 bytes instead of 65536; removed, will copy again/,
    );
    expect(
      await failed
        .locator(".span-bar")
        .evaluate(
          (b) =>
            (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(b)
              .backgroundColor,
        ),
    ).toBe("rgb(224, 96, 90)");
    expect(await page.locator("#trace-status").textContent()).toMatch(/^\d+ errors?$/);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "trace.png"), fullPage: true });
    expect(existsSync(join(ARTIFACTS, "trace.png"))).toBe(true);

    // Back to the dashboard.
    await page.locator("header a", { hasText: "dashboard" }).click();
    await page.waitForURL(dash!.url);
    await page.close();
  });

  it("says so when Jaeger has not received a trace, and links back to the dashboard", async () => {
    const unknown = "0123456789abcdef0123456789abcdef";
    const page = await openPage();
    await page.goto(new URL(`/trace/${unknown}`, dash!.url).href);
    await waitForValue(
      "the empty state",
      () => page.locator("#trace-empty").textContent(),
      "Jaeger has not received this trace yet; spans arrive within a few seconds.",
      20_000,
    );
    expect(await page.locator("#waterfall .span").count()).toBe(0);
    expect(await page.locator("header a", { hasText: "dashboard" }).getAttribute("href")).toBe("/");
    await page.close();
  });

  it("answers 400 for what is not a trace id and 404 for a trace Jaeger does not have or a deployment without Jaeger", async () => {
    const bad = await apiTrace("notahexid");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(
      /not a trace id: a trace id is 32 lowercase hex digits/,
    );
    const unknown = await apiTrace("fedcba9876543210fedcba9876543210");
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(
      /Jaeger has not received trace fedcba9876543210fedcba9876543210 yet/,
    );
    const noJaeger = await fetch(new URL("/api/trace/fedcba9876543210fedcba9876543210", bare!.url));
    expect(noJaeger.status).toBe(404);
    expect(((await noJaeger.json()) as { error: string }).error).toMatch(/this deployment has no Jaeger/);
    // The page itself is served under the same Content-Security-Policy as the dashboard.
    const page = await fetch(new URL("/trace/fedcba9876543210fedcba9876543210", dash!.url));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
  });
});
