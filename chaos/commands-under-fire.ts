/**
 * The commands a user runs while a fault is on (`ferry status --json`, and `ferry cat` of a file the
 * drill already submitted), run one after another in separate processes, as from another machine
 * (`FERRY_HUB`), for as long as the fault lasts. Each must end within its bounded time, either done
 * (exit 0) or saying why not (exit 1 or 2 with a `ferry: ...` message: a server it cannot reach, a
 * file not complete or not known yet); a crash (an unexpected error, another exit status) or a hang
 * is a violation of the drill.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type Deployment, hubUrls } from "../shared/topology/deployment.ts";
import { NODE_FLAGS } from "../supervisor/node-flags.ts";
import type { DrillFile } from "./invariants.ts";

/** How long a command may take before it counts as hung: its own --timeout (10 s) several times over. */
const HANG_MS = 60_000;
/** Pause between two commands, so they do not take the cores from the pipeline. */
const PAUSE_MS = 2000;

export interface CommandsReport {
  runs: number;
  /** Ended with exit 1 and a message naming what was unreachable. */
  refused: number;
  slowestMs: number;
  /** Crashes and hangs, each described. */
  violations: string[];
}

export interface CommandsUnderFire {
  stop(): Promise<CommandsReport>;
}

const CLI = resolve(import.meta.dirname, "../cli/main.ts");

/** Starts running the commands against `d`; `files` says which files exist to `cat`. */
export function runCommandsUnderFire(d: Deployment, files: () => DrillFile[]): CommandsUnderFire {
  const report: CommandsReport = { runs: 0, refused: 0, slowestMs: 0, violations: [] };
  const env = {
    ...process.env,
    FERRY_HUB: hubUrls(d).join(","),
    FERRY_NATS_HOME: d.dataDir,
    FERRY_TLS_CA: d.tls.caFile,
  };
  let stopping = false;
  const loop = (async () => {
    for (let i = 0; !stopping; i++) {
      const file = files()[i % Math.max(1, files().length)];
      const args = i % 2 === 0 || !file ? ["status", "--json"] : ["cat", file.fileId];
      await runOne(args, env, report);
      await sleep(PAUSE_MS);
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      return report;
    },
  };
}

async function runOne(args: string[], env: NodeJS.ProcessEnv, report: CommandsReport): Promise<void> {
  const started = Date.now();
  const { code, stderr, hung } = await run(args, env);
  const ms = Date.now() - started;
  report.runs++;
  report.slowestMs = Math.max(report.slowestMs, ms);
  const what = `ferry ${args.join(" ")}`;
  const message = stderr.trim().split("\n").at(-1) ?? "";
  if (hung) report.violations.push(`${what} hung: no end within ${HANG_MS / 1000} s`);
  // 1: it could not do it (a server unreachable, a file not complete); 2: it does not know the file yet.
  else if ((code === 1 || code === 2) && message.startsWith("ferry: ") && !message.includes("unexpected error"))
    report.refused++;
  else if (code !== 0) report.violations.push(`${what} crashed (exit ${code}): ${message.slice(0, 300)}`);
}

/** Runs the CLI; stdout (a whole file for `cat`) is read and dropped. */
function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string; hung: boolean }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    let hung = false;
    child.stdout.resume();
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      hung = true;
      child.kill("SIGKILL");
    }, HANG_MS);
    child.once("error", fail);
    child.once("close", (code) => {
      clearTimeout(timer);
      done({ code, stderr, hung });
    });
  });
}
