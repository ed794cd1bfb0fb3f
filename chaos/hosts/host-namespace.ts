/**
 * A "host" on this machine: a process tree in its own user and mount namespace (`unshare --user
 * --map-root-user --mount`, no root needed) in which the common parent of every host's folder is
 * covered by an empty tmpfs and only the host's own folder is mounted back. Another host's folder,
 * and the client's, do not exist there. The host's environment is the one given, nothing inherited.
 * Hosts share the machine's network (loopback ports): they reach each other over TCP only.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { pollUntil } from "../../shared/retry.ts";

/** Where a host lives and what it sees. */
export interface HostLayout {
  /** The host's own folder: the only one under `hidden` it can see. */
  own: string;
  /** The common parent of every host's folder and the client's: hidden inside the host. */
  hidden: string;
  /** An empty folder outside `hidden`, used while mounting (each namespace mounts its own tmpfs on it). */
  stash: string;
  /** The host's whole environment. */
  env: NodeJS.ProcessEnv;
}

/**
 * Run as root of the new user namespace: put the own folder aside (on a tmpfs over the stash), cover
 * the hidden parent with an empty tmpfs, move the own folder back to its path, then run the command.
 */
const MOUNT_SCRIPT = `set -e
own=$1; hidden=$2; stash=$3; shift 3
mount -t tmpfs ferry-stash "$stash"
mkdir "$stash/own"
mount --rbind "$own" "$stash/own"
mount -t tmpfs -o mode=0755 ferry-hidden "$hidden"
mkdir -p "$own"
mount --move "$stash/own" "$own"
umount "$stash"
cd "$own"
# Only the environment the host was given: not even what bash itself sets.
exec env -u PWD -u OLDPWD -u SHLVL -u _ "$@"`;

/** The argv that runs `command` as a host with `layout`. */
export function hostArgv(layout: HostLayout, command: string[]): string[] {
  return [
    "unshare",
    "--user",
    "--map-root-user",
    "--mount",
    "--",
    "bash",
    "-c",
    MOUNT_SCRIPT,
    "ferry-host",
    layout.own,
    layout.hidden,
    layout.stash,
    ...command,
  ];
}

/** Starts `command` as a host; its stdout and stderr go to `logFd` (an open file) or are piped. */
export function spawnHost(layout: HostLayout, command: string[], logFd?: number): ChildProcess {
  mkdirSync(layout.stash, { recursive: true });
  const [bin, ...args] = hostArgv(layout, command);
  return spawn(bin as string, args, {
    env: layout.env,
    stdio: ["ignore", logFd ?? "pipe", logFd ?? "pipe"],
  });
}

/** What a one-off command in a host printed. */
export interface HostRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `command` as a host to its end (killed after `timeoutMs`). */
export function runInHost(layout: HostLayout, command: string[], timeoutMs: number): Promise<HostRun> {
  return collect(spawnHost(layout, command), timeoutMs);
}

/**
 * Runs `command` inside the namespaces of the running host whose process is `pid` (nsenter): it sees
 * exactly what that host's processes see.
 */
export function runInsideHost(pid: number, command: string[], timeoutMs = 10_000): Promise<HostRun> {
  const child = spawn("nsenter", ["-t", String(pid), "--user", "--mount", "--preserve-credentials", "--", ...command], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
  });
  return collect(child, timeoutMs);
}

function collect(child: ChildProcess, timeoutMs: number): Promise<HostRun> {
  const out: Buffer[] = [];
  let stderr = "";
  child.stdout?.on("data", (b: Buffer) => out.push(b));
  child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

/** The mount namespace of `pid` (`mnt:[4026532…]`), or undefined when it is gone. */
export function mountNamespaceOf(pid: number): string | undefined {
  try {
    return readlinkSync(join("/proc", String(pid), "ns", "mnt"));
  } catch {
    return undefined;
  }
}

/** Every live process in the mount namespace `ns`: a host's whole process tree, however it forked. */
export function processesIn(ns: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    if (mountNamespaceOf(Number(name)) === ns) out.push(Number(name));
  }
  return out;
}

/**
 * Stops a host: SIGTERM to its main process (an orderly `ferry up` stop), then after `graceMs`
 * SIGKILL to every process still in its mount namespace, by pid. Resolves once none is left;
 * throws naming the survivors otherwise.
 */
export async function stopHost(main: ChildProcess, ns: string, graceMs = 20_000): Promise<void> {
  if (main.exitCode === null && main.signalCode === null) {
    main.kill("SIGTERM");
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      main.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  for (const pid of processesIn(ns)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  await pollUntil(
    `every process of the host is gone`,
    async () => {
      const left = processesIn(ns);
      return left.length === 0 || `still running: ${left.join(", ")}`;
    },
    { timeoutMs: 10_000, intervalMs: 100 },
  );
}
