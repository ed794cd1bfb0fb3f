import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, fstatSync, mkdirSync, openSync, readSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { FerryError } from "../errors.ts";
import type { ServerEndpoint } from "../topology/deployment.ts";

/** A nats-server could not be started or did not become ready; the message carries its config path and log tail. */
export class ServerStartError extends FerryError {}

export interface StartOptions {
  /** nats-server binary. @default resolveNatsServerBinary() */
  binary?: string;
  /** How long to wait for /healthz to answer 200. @default 15000 */
  readyTimeoutMs?: number;
  /** File the server's stdout and stderr are appended to; without it they are discarded. */
  logFile?: string;
}

const LOG_TAIL_BYTES = 4000;
const LOG_TAIL_LINES = 12;
const POLL_MS = 50;

/** The nats-server binary: `$FERRY_NATS_SERVER`, else `nats-server` on PATH. */
export function resolveNatsServerBinary(): string {
  return process.env.FERRY_NATS_SERVER || "nats-server";
}

/** One nats-server process, started from a generated config and stopped on request. */
export class NatsServer {
  readonly endpoint: ServerEndpoint;
  readonly #binary: string;
  readonly #readyTimeoutMs: number;
  readonly #logFile: string | undefined;
  #child: ChildProcess | undefined;
  #running = false;
  #exited: Promise<void> = Promise.resolve();
  #exitStatus = "";
  #stopping: Promise<void> | undefined;

  private constructor(endpoint: ServerEndpoint, opts: StartOptions) {
    this.endpoint = endpoint;
    this.#binary = opts.binary ?? resolveNatsServerBinary();
    this.#readyTimeoutMs = opts.readyTimeoutMs ?? 15_000;
    this.#logFile = opts.logFile;
  }

  /** Spawns `nats-server -c <configFile>` and resolves once /healthz answers 200. */
  static async start(endpoint: ServerEndpoint, opts: StartOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(endpoint, opts);
    await server.#launch();
    return server;
  }

  /** Process id while running. */
  get pid(): number | undefined {
    return this.#running ? this.#child?.pid : undefined;
  }

  /** Whether the process has not exited (it may have died on its own since start). */
  get isRunning(): boolean {
    return this.#running;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. Safe to call twice. */
  stop(graceMs = 5000): Promise<void> {
    if (!this.#running) return this.#exited;
    this.#stopping ??= (async () => {
      this.#child?.kill("SIGTERM");
      const timer = sleep(graceMs, "timeout" as const);
      if ((await Promise.race([this.#exited, timer])) === "timeout") {
        this.#child?.kill("SIGKILL");
        await this.#exited;
      }
    })().finally(() => {
      this.#stopping = undefined;
    });
    return this.#stopping;
  }

  /** SIGKILL (a crash, for chaos tests); resolves once the process has exited. */
  async kill(): Promise<void> {
    if (this.#running) this.#child?.kill("SIGKILL");
    await this.#exited;
  }

  /** Stops the server and starts it again on the same config, ports and store (data persists). */
  async restart(graceMs = 5000): Promise<void> {
    await this.stop(graceMs);
    await this.#launch();
  }

  async #launch(): Promise<void> {
    if (this.#running) throw new Error(`nats-server "${this.endpoint.name}" is already running`);
    const ep = this.endpoint;
    // Another process (often a server of an older deployment) answering on our monitoring port
    // would make its /healthz look like ours; refuse instead of reporting a false "ready".
    if (await acceptsConnections(ep.monitorPort)) {
      throw new ServerStartError(
        `nats-server "${ep.name}": monitoring port 127.0.0.1:${ep.monitorPort} is already in use ` +
          `(is an older deployment still running?); config ${ep.configFile}`,
      );
    }
    const log = this.#openLog();
    let child: ChildProcess;
    try {
      child = spawn(this.#binary, ["-c", ep.configFile], {
        stdio: ["ignore", log?.fd ?? "ignore", log?.fd ?? "ignore"],
        // Its own process group: a Ctrl-C at the terminal reaches only the supervisor, which then
        // stops workers before servers, in order.
        detached: true,
      });
    } finally {
      if (log) closeSync(log.fd); // the child holds its own copy
    }
    this.#child = child;
    this.#running = true;
    this.#exitStatus = "";
    this.#exited = new Promise<void>((resolve) => {
      const done = (status: string): void => {
        if (!this.#running) return;
        this.#running = false;
        this.#exitStatus = status;
        resolve();
      };
      child.once("exit", (code, signal) => done(signal ? `was killed by ${signal}` : `exited with code ${code}`));
      child.once("error", (err) => done(`could not be run (${err.message}); set FERRY_NATS_SERVER or put nats-server on PATH`));
    });
    try {
      await this.#waitReady();
    } catch (err) {
      await this.kill();
      const reason = err instanceof Error ? err.message : String(err);
      throw new ServerStartError(`${reason}\n${this.#diagnostics(log?.offset ?? 0)}`, { cause: err });
    }
  }

  async #waitReady(): Promise<void> {
    const { name, monitorPort } = this.endpoint;
    const deadline = Date.now() + this.#readyTimeoutMs;
    let last = "no answer yet";
    while (Date.now() < deadline) {
      if (!this.#running) throw new Error(`nats-server "${name}" (${this.#binary}) ${this.#exitStatus} during start-up`);
      try {
        const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`, {
          signal: AbortSignal.timeout(Math.max(1, Math.min(1000, deadline - Date.now()))),
        });
        // Plain /healthz on a single server also checks that every stored stream was recovered.
        if (res.status === 200) return;
        last = `/healthz ${res.status} ${(await res.text()).trim()}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await Promise.race([this.#exited, sleep(POLL_MS)]);
    }
    throw new Error(`nats-server "${name}" was not ready within ${this.#readyTimeoutMs} ms (last: ${last})`);
  }

  #openLog(): { fd: number; offset: number } | undefined {
    if (!this.#logFile) return undefined;
    mkdirSync(dirname(this.#logFile), { recursive: true });
    const fd = openSync(this.#logFile, "a");
    return { fd, offset: fstatSync(fd).size };
  }

  /** Config path and the tail of what the server logged since this launch. */
  #diagnostics(offset: number): string {
    const lines = [`  config: ${this.endpoint.configFile}`];
    if (!this.#logFile) {
      lines.push("  log: discarded (pass logFile to keep the server's output)");
      return lines.join("\n");
    }
    const tail = readTail(this.#logFile, offset, LOG_TAIL_BYTES).trimEnd().split("\n").slice(-LOG_TAIL_LINES).join("\n");
    lines.push(`  log ${this.#logFile}, last lines:`, tail === "" ? "    (empty)" : tail.replace(/^/gm, "    "));
    return lines.join("\n");
  }
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

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.setTimeout(1000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

function readTail(file: string, from: number, maxBytes: number): string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return "";
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(from, size - maxBytes);
    const buf = Buffer.alloc(Math.max(0, size - start));
    readSync(fd, buf, 0, buf.length, start);
    const text = buf.toString("utf8");
    // Drop a cut first line when we started in the middle of the log.
    return start > from ? text.slice(text.indexOf("\n") + 1) : text;
  } finally {
    closeSync(fd);
  }
}
