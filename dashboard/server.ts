/**
 * The dashboard's web server (node:http, no framework): the static page, `/api/state` (one JSON
 * snapshot), `/api/events` (Server-Sent Events, a snapshot every second), `/metrics` (the
 * deployment's aggregated Prometheus endpoint), and one file's trace read from Jaeger's query API:
 * `/trace/<traceId>` (a waterfall page) and `/api/trace/<traceId>` (its JSON). What answers each path
 * is router.ts; this file starts and stops the server and what it reads from.
 */
import { createServer, type Server } from "node:http";
import { connectPipeline } from "../observability/metrics-endpoint.ts";
import { ConfigError } from "../shared/errors.ts";
import type { Deployment } from "../shared/topology/deployment.ts";
import { admit, isLoopback } from "./access.ts";
import { dashboardRouter } from "./router.ts";
import { SnapshotCache } from "./snapshot-cache.ts";
import { SnapshotPush } from "./snapshot-push.ts";
import { openStateSource } from "./state.ts";
import { loadStaticPages } from "./static-pages.ts";

export interface Dashboard {
  /** `http://<host>:<port>/` */
  url: string;
  /** Ends open pages' streams, stops the server and closes the connections. Idempotent. */
  close(): Promise<void>;
}

/**
 * Serves the dashboard of a running deployment on `host:port` (port 0 picks a free one). On an
 * address other than loopback every request needs `token` (dashboard/access.ts), and there is no
 * starting without one.
 * @default host "127.0.0.1"
 */
export async function startDashboard(options: {
  deployment: Deployment;
  port: number;
  host?: string;
  token?: string;
}): Promise<Dashboard> {
  const host = options.host ?? "127.0.0.1";
  if (!isLoopback(host) && !options.token)
    throw new ConfigError(
      `serving the dashboard on ${host} needs a token (FERRY_DASHBOARD_TOKEN, or the deployment's dashboard.token); nothing started`,
    );
  const pages = loadStaticPages();
  const conns = await connectPipeline(options.deployment, "ferry-dashboard");
  const source = await openStateSource(conns).catch(async (err: unknown) => {
    await conns.close();
    throw err;
  });
  const snapshots = new SnapshotCache(source);
  const push = new SnapshotPush(snapshots);
  const router = dashboardRouter({ deployment: options.deployment, conns, pages, snapshots, push });
  const server = createServer((req, res) => {
    if (admit(options.token, req, res)) router(req, res);
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
        push.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await push.finished();
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
