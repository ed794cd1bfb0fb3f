import { healthz, jetStreamDisabled } from "../shared/nats/monitoring.ts";
import { ServerStartError } from "../shared/process/server-spec.ts";
import type { ServerEndpoint } from "../shared/topology/deployment.ts";
import { ServerProcess } from "./server-process.ts";

export { ServerStartError };

export interface StartOptions {
  /** nats-server binary. @default resolveNatsServerBinary() */
  binary?: string;
  /** How long to wait for /healthz to answer 200. @default 15000 */
  readyTimeoutMs?: number;
  /** File the server's stdout and stderr are appended to; without it they are discarded. */
  logFile?: string;
}

/** The nats-server binary: `$FERRY_NATS_SERVER`, else `nats-server` on PATH. */
export function resolveNatsServerBinary(): string {
  return process.env.FERRY_NATS_SERVER || "nats-server";
}

/** One nats-server process, started from a generated config and stopped on request. */
export class NatsServer {
  readonly endpoint: ServerEndpoint;
  readonly #process: ServerProcess;

  private constructor(endpoint: ServerEndpoint, opts: StartOptions) {
    this.endpoint = endpoint;
    this.#process = new ServerProcess({
      label: `nats-server "${endpoint.name}"`,
      binary: opts.binary ?? resolveNatsServerBinary(),
      args: ["-c", endpoint.configFile],
      // The monitoring port: an older deployment's server answering there would make its /healthz look like ours.
      ports: [endpoint.monitorPort],
      ready: (signal) => healthz(endpoint.monitorPort, signal),
      readyTimeoutMs: opts.readyTimeoutMs ?? 15_000,
      ...(opts.logFile ? { logFile: opts.logFile } : {}),
      diagnostics: [`config: ${endpoint.configFile}`],
      missingBinaryHint: "set FERRY_NATS_SERVER or put nats-server on PATH",
    });
  }

  /** Spawns `nats-server -c <configFile>` and resolves once /healthz answers 200. */
  static async start(endpoint: ServerEndpoint, opts: StartOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(endpoint, opts);
    await server.#process.start();
    return server;
  }

  /** Process id while running. */
  get pid(): number | undefined {
    return this.#process.pid;
  }

  /** Whether the process has not exited (it may have died on its own since start). */
  get isRunning(): boolean {
    return this.#process.isRunning;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. Safe to call twice. */
  stop(graceMs = 5000): Promise<void> {
    return this.#process.stop(graceMs);
  }

  /** Why this running server is of no use though alive (its JetStream disabled), or undefined. */
  trouble(): Promise<string | undefined> {
    return jetStreamDisabled(this.endpoint.monitorPort);
  }

  /** SIGKILL (a crash, for chaos tests); resolves once the process has exited. */
  kill(): Promise<void> {
    return this.#process.kill();
  }

  /** Stops the server and starts it again on the same config, ports and store (data persists). */
  restart(graceMs = 5000): Promise<void> {
    return this.#process.restart(graceMs);
  }
}
