import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, fstatSync, mkdirSync, openSync, readSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type ServerProcessSpec, ServerStartError } from "../shared/process/server-spec.ts";
import { pollUntil } from "../shared/retry.ts";

const LOG_TAIL_BYTES = 4000;
const LOG_TAIL_LINES = 12;
const POLL_MS = 50;

/**
 * One local server process: spawned in its own process group (Ctrl-C reaches only the supervisor,
 * which stops things in order), ready when its probe says so, stopped by pid.
 */
export class ServerProcess {
  readonly spec: ServerProcessSpec;
  #child: ChildProcess | undefined;
  #running = false;
  #exited: Promise<void> = Promise.resolve();
  #exitStatus = "";
  #stopping: Promise<void> | undefined;

  constructor(spec: ServerProcessSpec) {
    this.spec = spec;
  }

  /** Process id while running. */
  get pid(): number | undefined {
    return this.#running ? this.#child?.pid : undefined;
  }

  /** Whether the process has not exited (it may have died on its own since start). */
  get isRunning(): boolean {
    return this.#running;
  }

  /** Spawns the server and resolves once its probe reports ready; on failure it is killed and the error carries its log tail. */
  async start(): Promise<void> {
    const s = this.spec;
    if (this.#running) throw new Error(`${s.label} is already running`);
    for (const port of s.ports) {
      if (await acceptsConnections(port)) {
        throw new ServerStartError(
          `${s.label}: port 127.0.0.1:${port} is already in use (is an older deployment still running?)`,
        );
      }
    }
    const log = this.#openLog();
    let child: ChildProcess;
    try {
      child = spawn(s.binary, s.args, {
        stdio: ["ignore", log?.fd ?? "ignore", log?.fd ?? "ignore"],
        env: { ...process.env, ...s.env },
        ...(s.cwd ? { cwd: s.cwd } : {}),
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
      child.once("error", (err) =>
        done(`could not be run (${err.message})${s.missingBinaryHint ? `; ${s.missingBinaryHint}` : ""}`),
      );
    });
    try {
      await this.#waitReady();
    } catch (err) {
      await this.kill();
      const reason = err instanceof Error ? err.message : String(err);
      throw new ServerStartError(`${reason}\n${this.#diagnostics(log?.offset ?? 0)}`, { cause: err });
    }
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

  /** Stops the server and starts it again with the same arguments (its data persists if it keeps any). */
  async restart(graceMs = 5000): Promise<void> {
    await this.stop(graceMs);
    await this.start();
  }

  async #waitReady(): Promise<void> {
    const s = this.spec;
    const timeoutMs = s.readyTimeoutMs ?? 15_000;
    const deadline = Date.now() + timeoutMs;
    // A server that exits during start-up ends the wait at once, with how it ended.
    const exited = new AbortController();
    void this.#exited.then(() =>
      exited.abort(new Error(`${s.label} (${s.binary}) ${this.#exitStatus} during start-up`)),
    );
    await pollUntil(
      `${s.label} ready`,
      async () => {
        const probe = AbortSignal.timeout(Math.max(1, Math.min(1000, deadline - Date.now())));
        const answer = await s.ready(AbortSignal.any([probe, exited.signal]));
        return answer === true || (typeof answer === "string" ? answer : false);
      },
      { timeoutMs, intervalMs: POLL_MS, signal: exited.signal },
    );
  }

  #openLog(): { fd: number; offset: number } | undefined {
    if (!this.spec.logFile) return undefined;
    mkdirSync(dirname(this.spec.logFile), { recursive: true });
    const fd = openSync(this.spec.logFile, "a");
    return { fd, offset: fstatSync(fd).size };
  }

  /** The spec's extra lines and the tail of what the server logged since this start. */
  #diagnostics(offset: number): string {
    const lines = (this.spec.diagnostics ?? []).map((l) => `  ${l}`);
    const logFile = this.spec.logFile;
    if (!logFile) {
      lines.push("  log: discarded (pass logFile to keep the server's output)");
      return lines.join("\n");
    }
    const tail = readTail(logFile, offset, LOG_TAIL_BYTES).trimEnd().split("\n").slice(-LOG_TAIL_LINES).join("\n");
    lines.push(`  log ${logFile}, last lines:`, tail === "" ? "    (empty)" : tail.replace(/^/gm, "    "));
    return lines.join("\n");
  }
}

export function acceptsConnections(port: number): Promise<boolean> {
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
