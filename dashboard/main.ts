/**
 * Entry of the dashboard as its own process: `node dashboard/main.ts <dataDir> [port]`, for a hub
 * host's systemd unit (`ferry up` runs the same server in its supervisor). Serves on loopback only.
 */
import { readDeployment } from "../shared/topology/deployment.ts";
import { startDashboard } from "./server.ts";

const DEFAULT_PORT = 4280;

async function main(argv: string[]): Promise<void> {
  const [dataDir, port] = argv;
  if (!dataDir) throw new Error("usage: dashboard/main.ts <dataDir> [port]");
  const dashboard = await startDashboard({
    deployment: readDeployment(dataDir),
    port: port === undefined ? DEFAULT_PORT : Number(port),
  });
  process.stdout.write(`ferry dashboard: ${dashboard.url}\n`);
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
