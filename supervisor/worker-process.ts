import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { NODE_FLAGS } from "./node-flags.ts";

export interface WorkerProcessSpec {
  /** `<stage>-<cloud>` or `orchestrator`. */
  name: string;
  /** Script and arguments given to node. */
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  /** Start again when it exits on its own (not when stopped). @default true */
  restart?: boolean;
  /** Called with the new pid at every start (the supervisor records pids for `ferry down`). */
  onStart?: (pid: number) => void;
}

const RESTART_DELAY_MS = 500;

/** One Node worker process with its output in a log file, restarted when it dies unless stopped. */
export class WorkerProcess {
  readonly spec: WorkerProcessSpec;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #stopping = false;
  #restartTimer: NodeJS.Timeout | undefined;
  /** How many times it has been started. */
  starts = 0;

  constructor(spec: WorkerProcessSpec) {
    this.spec = spec;
  }

  get pid(): number | undefined {
    return this.#child?.exitCode === null && this.#child.signalCode === null ? this.#child.pid : undefined;
  }

  start(): void {
    this.#stopping = false;
    const log = openSync(this.spec.logFile, "a");
    const child = spawn(process.execPath, [...NODE_FLAGS, ...this.spec.args], {
      stdio: ["ignore", log, log],
      env: { ...process.env, ...this.spec.env },
      // Its own process group, so a terminal's Ctrl-C reaches only the supervisor (see stop()).
      detached: true,
    });
    closeSync(log);
    this.starts++;
    this.#child = child;
    if (child.pid !== undefined) this.spec.onStart?.(child.pid);
    this.#exited = new Promise((resolve) => child.once("exit", () => resolve()));
    child.once("exit", () => {
      if (this.#stopping || this.spec.restart === false) return;
      this.#restartTimer = setTimeout(() => this.start(), RESTART_DELAY_MS);
    });
  }

  /** SIGKILL, as a crash would; the process is restarted if restarts are on. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || this.pid === undefined) return;
    child.kill("SIGKILL");
    await this.#exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; no restart. Idempotent. */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (!child || this.pid === undefined) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }
}
