/**
 * Entry of the dashboard as its own process: `node dashboard/main.ts <dataDir> [port] [host]`, for a
 * hub host's systemd unit (`ferry up` runs the same server in its supervisor). Serves on loopback
 * unless `host` says otherwise; then every request needs the dashboard's token (dashboard/token.ts).
 */
import { readDeployment } from "../shared/topology/deployment.ts";
import { isLoopback } from "./access.ts";
import { startDashboard } from "./server.ts";
import { dashboardToken } from "./token.ts";

const DEFAULT_PORT = 4280;

async function main(argv: string[]): Promise<void> {
  const [dataDir, port, host] = argv;
  if (!dataDir) throw new Error("usage: dashboard/main.ts <dataDir> [port] [host]");
  const guarded = host !== undefined && !isLoopback(host) ? dashboardToken(dataDir) : undefined;
  const dashboard = await startDashboard({
    deployment: readDeployment(dataDir),
    port: port === undefined ? DEFAULT_PORT : Number(port),
    ...(host ? { host } : {}),
    ...(guarded ? { token: guarded.token } : {}),
  });
  process.stdout.write(`ferry dashboard: ${dashboard.url}${guarded ? ` (token: ${guarded.from})` : ""}\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await dashboard.close();
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`ferry dashboard: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
