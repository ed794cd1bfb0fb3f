/**
 * The dashboard beyond loopback: it will not start without a token, and then every request needs it
 * (a bearer header, or the cookie a first `?token=` visit sets); on loopback it stays open.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Dashboard, startDashboard } from "../../dashboard/server.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";

const TOKEN = "t0ken-for-the-dashboard-access-test";
let t: TestPipeline;
let dash: Dashboard;
/** The guarded dashboard as this machine reaches it: it listens on every interface. */
let base = "";

beforeAll(async () => {
  t = await startTestPipeline();
  dash = await startDashboard({ deployment: t.pipeline.deployment, port: 0, host: "0.0.0.0", token: TOKEN });
  base = `http://127.0.0.1:${new URL(dash.url).port}`;
});
afterAll(async () => {
  await dash?.close();
  await t?.stop();
});

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { headers, redirect: "manual" });

it("refuses to serve beyond loopback without a token, naming how to give one", async () => {
  await expect(startDashboard({ deployment: t.pipeline.deployment, port: 0, host: "0.0.0.0" })).rejects.toThrow(
    /serving the dashboard on 0\.0\.0\.0 needs a token \(FERRY_DASHBOARD_TOKEN/,
  );
});

it("answers 401 to every path without the token, or with a wrong one", async () => {
  for (const path of ["/", "/api/state", "/metrics", "/api/events", "/trace/0123456789abcdef0123456789abcdef"]) {
    const res = await get(path);
    expect([path, res.status]).toEqual([path, 401]);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="ferry"');
    expect(await res.text()).toContain("needs its token");
  }
  expect((await get("/api/state", { authorization: `Bearer ${TOKEN}x` })).status).toBe(401);
  expect((await get("/api/state", { cookie: "ferry_dashboard=nope" })).status).toBe(401);
  expect((await get("/?token=nope")).status).toBe(401);
});

it("serves the state and /metrics to a bearer token, as Prometheus sends it", async () => {
  const state = await get("/api/state", { authorization: `Bearer ${TOKEN}` });
  expect(state.status).toBe(200);
  expect(await state.json()).toHaveProperty("files");
  const metrics = await get("/metrics", { authorization: `Bearer ${TOKEN}` });
  expect(metrics.status).toBe(200);
  expect(await metrics.text()).toContain("ferry_workers_answering");
});

it("trades ?token= for a cookie and a clean address, and the cookie opens the page", async () => {
  const first = await get(`/?token=${TOKEN}`);
  expect(first.status).toBe(303);
  expect(first.headers.get("location")).toBe("/");
  const cookie = first.headers.get("set-cookie") ?? "";
  expect(cookie).toMatch(/^ferry_dashboard=[^;]+; HttpOnly; SameSite=Strict; Path=\/$/);
  const page = await get("/", { cookie: cookie.split(";")[0]! });
  expect(page.status).toBe(200);
  expect(await page.text()).toContain("<html");
});

it("stays open on loopback, where only this host reaches it", async () => {
  const open = await startDashboard({ deployment: t.pipeline.deployment, port: 0 });
  try {
    expect((await fetch(new URL("/api/state", open.url))).status).toBe(200);
  } finally {
    await open.close();
  }
});
