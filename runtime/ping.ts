import type { NatsConnection } from "@nats-io/transport-node";
import { WORKER_PING } from "../shared/subjects.ts";
import type { WorkerInfo } from "./worker-runtime.ts";

/** Asks every worker reachable from `nc` who it is; collects answers for `waitMs`. */
export async function pingWorkers(nc: NatsConnection, waitMs: number): Promise<WorkerInfo[]> {
  const out: WorkerInfo[] = [];
  try {
    const replies = await nc.requestMany(WORKER_PING, undefined, { maxWait: waitMs, strategy: "timer" });
    for await (const m of replies) {
      try {
        out.push(m.json<WorkerInfo>());
      } catch {
        // a foreign responder on the subject: ignore it
      }
    }
  } catch {
    // no responders: nobody is running
  }
  return out.sort((a, b) => `${a.cloud}/${a.stage}`.localeCompare(`${b.cloud}/${b.stage}`));
}
