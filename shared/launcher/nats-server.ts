import { setTimeout as sleep } from "node:timers/promises";
import { FerryError } from "../errors.ts";
import type { ServerEndpoint } from "../topology/deployment.ts";
import { ServerProcess, ServerStartError } from "./server-process.ts";

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

  /** SIGKILL (a crash, for chaos tests); resolves once the process has exited. */
  kill(): Promise<void> {
    return this.#process.kill();
  }

  /** Stops the server and starts it again on the same config, ports and store (data persists). */
  restart(graceMs = 5000): Promise<void> {
    return this.#process.restart(graceMs);
  }
}

/** Plain /healthz on a single server also checks that every stored stream was recovered. */
async function healthz(monitorPort: number, signal: AbortSignal): Promise<boolean | string> {
  const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`, { signal });
  if (res.status === 200) return true;
  return `/healthz ${res.status} ${(await res.text()).trim()}`;
}

/** Which leaves (by server name) have a link to the hub; every name in `clouds` is present, false if not linked. */
export async function leafLinks(hub: ServerEndpoint, clouds: string[] = []): Promise<Record<string, boolean>> {
  const res = await fetch(`http://127.0.0.1:${hub.monitorPort}/leafz`, { signal: AbortSignal.timeout(2000) });
  if (res.status !== 200) throw new Error(`hub /leafz answered ${res.status}`);
  // nats-server 2.14: { server_id, now, leafnodes, leafs: [{ name, account, ip, port, ... }] }
  const body = (await res.json()) as { leafs?: { name?: string }[] };
  const links: Record<string, boolean> = Object.fromEntries(clouds.map((c) => [c, false]));
  for (const leaf of body.leafs ?? []) if (leaf.name) links[leaf.name] = true;
  return links;
}

/** Resolves once every cloud's leaf is linked to the hub; rejects after `timeoutMs` naming the missing ones. */
export async function waitForLeafLinks(hub: ServerEndpoint, clouds: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "hub monitoring not answering";
  for (;;) {
    try {
      const links = await leafLinks(hub, clouds);
      const missing = clouds.filter((c) => !links[c]);
      if (missing.length === 0) return;
      last = `not linked: ${missing.join(", ")}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) throw new FerryError(`leaf links to the hub not up within ${timeoutMs} ms (${last})`);
    await sleep(100);
  }
}
