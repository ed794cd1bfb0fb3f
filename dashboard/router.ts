/**
 * What the dashboard answers at each path: its static pages, `/api/state` (one JSON snapshot),
 * `/api/events` (the snapshot stream), one trace read from Jaeger (`/api/trace/<traceId>`) and
 * `/metrics`; anything else is a 404 that says where things are.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { METRICS_CONTENT_TYPE, type PipelineConnections, scrapeMetrics } from "../observability/metrics-endpoint.ts";
import { jaegerQueryUrl } from "../observability/trace-link.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import type { SnapshotCache } from "./snapshot-cache.ts";
import type { SnapshotPush } from "./snapshot-push.ts";
import { SECURITY_HEADERS, type StaticPages } from "./static-pages.ts";
import { readTrace, TraceLookupError } from "./trace-view.ts";

export interface RouterOptions {
  deployment: Deployment;
  conns: PipelineConnections;
  pages: StaticPages;
  snapshots: SnapshotCache;
  push: SnapshotPush;
}

/** The server's request listener; a request the deployment could not answer gets a 503 saying why. */
export function dashboardRouter(options: RouterOptions): RequestListener {
  return (req, res) => {
    route(options, req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res
        .writeHead(503, { "content-type": "text/plain; charset=utf-8" })
        .end(`the deployment did not answer: ${(err as Error).message}\n`);
    });
  };
}

async function route(options: RouterOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }).end("only GET\n");
    return;
  }
  const page = options.pages(path);
  if (page) {
    res.writeHead(200, { "content-type": page.type, "cache-control": "no-cache", ...SECURITY_HEADERS }).end(page.body);
    return;
  }
  if (path === "/api/state") {
    const state = await options.snapshots.current();
    res
      .writeHead(200, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
      .end(JSON.stringify(state));
    return;
  }
  if (path === "/api/events") {
    options.push.open(res);
    return;
  }
  if (path.startsWith("/api/trace/")) {
    await serveTrace(options.deployment, path.slice("/api/trace/".length), res);
    return;
  }
  if (path === "/metrics") {
    const body = await scrapeMetrics(options.conns);
    res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" }).end(body);
    return;
  }
  res
    .writeHead(404, { "content-type": "text/plain; charset=utf-8" })
    .end(
      "not found: the dashboard is at /, its data at /api/state, metrics at /metrics, a file's trace at /trace/<traceId>\n",
    );
}

/** One trace as JSON; what Jaeger cannot answer is an error status with its reason, not a 503. */
async function serveTrace(deployment: Deployment, traceId: string, res: ServerResponse): Promise<void> {
  try {
    const trace = await readTrace(jaegerQueryUrl(deployment), traceId);
    res
      .writeHead(200, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
      .end(JSON.stringify(trace));
  } catch (err) {
    if (!(err instanceof TraceLookupError)) throw err;
    res
      .writeHead(err.status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
      .end(JSON.stringify({ error: err.message }));
  }
}
