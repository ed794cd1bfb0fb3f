/**
 * What it takes to run one local server, as data: the supervisor (supervisor/server-process.ts)
 * spawns, watches and stops it. It lives in shared/ so a store kind's folder can say how its local
 * server runs (shared/stores/<kind>/local-server.ts) without reaching up into the supervisor.
 */
import { FerryError } from "../errors.ts";

/** A server could not be started or did not become ready; the message carries its log tail. */
export class ServerStartError extends FerryError {}

/** What it takes to run one local server (nats-server, a storage emulator, Jaeger, toxiproxy). */
export interface ServerProcessSpec {
  /** Shown in errors, e.g. `nats-server "hub"` or `versitygw (aws)`. */
  label: string;
  binary: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Ports that must be free before start: someone else answering there would look like us. */
  ports: number[];
  /**
   * Resolves true once the server serves; called every 50 ms until `readyTimeoutMs`, with a signal
   * that aborts at that deadline. Throws, false or a string (what it saw): not yet.
   */
  ready: (signal: AbortSignal) => Promise<boolean | string>;
  /** @default 15000 */
  readyTimeoutMs?: number;
  /** File the server's stdout and stderr are appended to; without it they are discarded. */
  logFile?: string;
  /** Extra lines for a start-up failure (e.g. the config path). */
  diagnostics?: string[];
  /** Said when the binary cannot be run at all, e.g. "set FERRY_NATS_SERVER". */
  missingBinaryHint?: string;
}

/** A ready probe: true once `url` answers with a status below 500 (or exactly `status` when given). */
export function httpAnswers(url: string, status?: number): (signal: AbortSignal) => Promise<boolean | string> {
  return async (signal) => {
    const res = await fetch(url, { signal });
    await res.body?.cancel();
    const ok = status === undefined ? res.status < 500 : res.status === status;
    return ok || `${url} answered ${res.status}`;
  };
}
