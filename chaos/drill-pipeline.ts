/**
 * The drill's private deployment: started with every process it runs recorded (so the report can prove
 * none outlives the drill), and which of its nats-servers have stopped.
 */
import { type Pipeline, type PipelineOptions, startPipeline } from "../supervisor/pipeline.ts";
import type { KillWorkersOptions } from "./drill-options.ts";

/**
 * Starts the deployment; `pids` gets every server and worker process, restarts included, for as long
 * as the pipeline runs.
 */
export async function startDrillPipeline(
  options: KillWorkersOptions,
  adjust?: PipelineOptions["adjust"],
): Promise<{ pipeline: Pipeline; pids: number[] }> {
  const { log } = options;
  const pids: number[] = [];
  const seenNames = new Set<string>();
  const pipeline = await startPipeline({
    topology: options.topology,
    dataDir: options.dataDir,
    ...(adjust ? { adjust } : {}),
    workerEnv: options.throttleBytesPerSec ? { FERRY_FS_THROTTLE_BPS: String(options.throttleBytesPerSec) } : {},
    // Brings killed store servers back, and nats-servers that die or lose their JetStream.
    restartServers: options.killStores ?? false,
    onServerRestart: (name, pid, reason) => {
      pids.push(pid);
      log(`  ${name} restarted as pid ${pid}: ${reason}`);
    },
    onWorkerStart: (name, pid) => {
      pids.push(pid);
      if (seenNames.has(name)) log(`  ${name} restarted as pid ${pid}`);
      seenNames.add(name);
    },
  });
  pids.push(
    ...[pipeline.nats.hub, ...Object.values(pipeline.nats.leaves), ...pipeline.localStores.values()].flatMap((s) =>
      s.pid === undefined ? [] : [s.pid],
    ),
  );
  return { pipeline, pids };
}

/** The nats-servers that are not running (store servers the drill kills come back by themselves). */
export function serversDown(p: Pipeline): string[] {
  return [p.nats.hub, ...Object.values(p.nats.leaves)].filter((s) => !s.isRunning).map((s) => s.endpoint.name);
}
