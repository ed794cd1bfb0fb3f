import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { resolve } from "node:path";
import { NODE_FLAGS } from "../../supervisor/node-flags.ts";

export const REPO_ROOT = resolve(import.meta.dirname, "../..");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the ferry CLI as a user would (a separate process), with its output captured. */
export function runCli(
  args: string[],
  options: {
    env?: NodeJS.ProcessEnv;
    uid?: number;
    gid?: number;
    timeoutMs?: number;
    /** Send stdout to this open file descriptor (bytes as they are) instead of capturing it as text. */
    stdoutFd?: number;
    /** Hears the child process once it is started (to signal it mid-run). */
    onSpawn?: (child: ChildProcess) => void;
  } = {},
): Promise<CliResult> {
  const opts: SpawnOptions = {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", options.stdoutFd ?? "pipe", "pipe"],
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
  };
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, resolve(REPO_ROOT, "cli/main.ts"), ...args], opts);
    options.onSpawn?.(child);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.once("error", fail);
    child.once("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

/** Parses one JSON object per line. */
export const jsonLines = <T>(text: string): T[] =>
  text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as T);
