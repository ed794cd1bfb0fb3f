/**
 * The dashboard's web server (node:http, no framework): the static page, `/api/state` (one JSON
 * snapshot), `/api/events` (Server-Sent Events, a snapshot every second), `/metrics` (the
 * deployment's aggregated Prometheus endpoint), and one file's trace read from Jaeger's query API:
 * `/trace/<traceId>` (a waterfall page) and `/api/trace/<traceId>` (its JSON).
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connectPipeline, METRICS_CONTENT_TYPE, scrapeMetrics } from "../observability/metrics-endpoint.ts";
import { jaegerQueryUrl } from "../observability/trace-link.ts";
import { ConfigError } from "../shared/errors.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { type DashboardState, openStateSource } from "./state.ts";
import { readTrace, TraceLookupError } from "./trace-view.ts";

/** How often a snapshot is pushed to open pages. */
const PUSH_EVERY_MS = 1000;

const PUBLIC = join(import.meta.dirname, "public");
const STATIC: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/dom.js": { file: "dom.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
  "/trace.js": { file: "trace.js", type: "text/javascript; charset=utf-8" },
};
/** The trace page, served for every `/trace/<traceId>`: its script reads the id from the address. */
const TRACE_PAGE = { file: "trace.html", type: "text/html; charset=utf-8" };
/** The page loads only its own script and style and talks only to its own server. */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

export interface Dashboard {
  /** `http://<host>:<port>/` */
  url: string;
  /** Ends open pages' streams, stops the server and closes the connections. Idempotent. */
  close(): Promise<void>;
}

/**
 * Serves the dashboard of a running deployment on `host:port` (port 0 picks a free one).
 * @default host "127.0.0.1"
 */
export async function startDashboard(options: {
  deployment: Deployment;
  port: number;
  host?: "127.0.0.1";
}): Promise<Dashboard> {
  const host = options.host ?? "127.0.0.1";
  const pages = Object.fromEntries(
    Object.entries(STATIC).map(([path, s]) => [path, { body: readFileSync(join(PUBLIC, s.file)), type: s.type }]),
  );
  const tracePage = { body: readFileSync(join(PUBLIC, TRACE_PAGE.file)), type: TRACE_PAGE.type };
  const conns = await connectPipeline(options.deployment, "ferry-dashboard");
  const source = await openStateSource(conns).catch(async (err: unknown) => {
    await conns.close();
    throw err;
  });
  const streams = new Set<ServerResponse>();
  const stop = new AbortController();

  // One snapshot at a time, shared by every page and /api/state; a new one once the last is a second old.
  let latest: { at: number; state: Promise<DashboardState>; settled: boolean } | undefined;
  const current = (): Promise<DashboardState> => {
    if (!latest || (latest.settled && Date.now() - latest.at >= PUSH_EVERY_MS)) {
      const next = { at: Date.now(), state: source.snapshot(), settled: false };
      next.state.then(
        () => {
          next.settled = true;
        },
        () => {
          if (latest === next) latest = undefined;
        },
      );
      latest = next;
    }
    return latest.state;
  };
  let pushing: Promise<void> | undefined;
  const pushLoop = async () => {
    while (streams.size > 0 && !stop.signal.aborted) {
      const started = Date.now();
      try {
        const frame = `data: ${JSON.stringify(await current())}\n\n`;
        for (const res of streams) res.write(frame);
      } catch {
        // the hub did not answer this time; the page shows the time of the last snapshot
      }
      await sleep(Math.max(0, PUSH_EVERY_MS - (Date.now() - started)), undefined, { signal: stop.signal }).catch(
        () => undefined,
      );
    }
    pushing = undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }).end("only GET\n");
      return;
    }
    const page = pages[path] ?? (path.startsWith("/trace/") ? tracePage : undefined);
    if (page) {
      res
        .writeHead(200, { "content-type": page.type, "cache-control": "no-cache", ...SECURITY_HEADERS })
        .end(page.body);
      return;
    }
    if (path === "/api/state") {
      const state = await current();
      res
        .writeHead(200, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
        .end(JSON.stringify(state));
      return;
    }
    if (path === "/api/events") {
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        connection: "keep-alive",
      });
      res.write("retry: 2000\n\n");
      streams.add(res);
      res.on("close", () => streams.delete(res));
      pushing ??= pushLoop();
      return;
    }
    if (path.startsWith("/api/trace/")) {
      const traceId = path.slice("/api/trace/".length);
      try {
        const trace = await readTrace(jaegerQueryUrl(options.deployment), traceId);
        res
          .writeHead(200, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
          .end(JSON.stringify(trace));
      } catch (err) {
        if (!(err instanceof TraceLookupError)) throw err;
        res
          .writeHead(err.status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" })
          .end(JSON.stringify({ error: err.message }));
      }
      return;
    }
    if (path === "/metrics") {
      const body = await scrapeMetrics(conns);
      res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" }).end(body);
      return;
    }
    res
      .writeHead(404, { "content-type": "text/plain; charset=utf-8" })
      .end(
        "not found: the dashboard is at /, its data at /api/state, metrics at /metrics, a file's trace at /trace/<traceId>\n",
      );
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res
        .writeHead(503, { "content-type": "text/plain; charset=utf-8" })
        .end(`the deployment did not answer: ${(err as Error).message}\n`);
    });
  });
  try {
    await listen(server, options.port, host);
  } catch (err) {
    await source.close();
    await conns.close();
    throw err;
  }
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}/`,
    close: () =>
      (closed ??= (async () => {
        stop.abort();
        for (const res of streams) res.end();
        streams.clear();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await pushing;
        await source.close();
        await conns.close();
      })()),
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      reject(
        err.code === "EADDRINUSE"
          ? new ConfigError(
              `dashboard port ${port} on ${host} is already in use: pick another port (0 for any free one)`,
            )
          : err,
      );
    });
    server.listen(port, host, () => resolve());
  });
}
