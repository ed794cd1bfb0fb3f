/**
 * A small disk that fills, without root: the drill runs in a user and mount namespace of its own
 * (`unshare --user --map-root-user --mount`), where a tmpfs of a chosen size is mounted over one
 * folder of the deployment. Every process the drill starts inherits the namespace and sees the small
 * disk; nothing outside it does, and it vanishes with the drill.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, rmSync, statfsSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";

/** Set in the re-run drill, so it knows it is inside its namespace. */
const IN_NAMESPACE = "FERRY_DRILL_MOUNT_NAMESPACE";

export const inMountNamespace = (): boolean => process.env[IN_NAMESPACE] === "1";

/** Runs this same CLI command again inside a new user and mount namespace; resolves with its exit code. */
export function rerunInMountNamespace(): Promise<number> {
  const argv = [...process.execArgv, process.argv[1] as string, ...process.argv.slice(2)];
  const child = spawn("unshare", ["--user", "--map-root-user", "--mount", "--", process.execPath, ...argv], {
    stdio: "inherit",
    env: { ...process.env, [IN_NAMESPACE]: "1" },
  });
  return new Promise((resolve, reject) => {
    child.once("error", (err) =>
      reject(new Error(`cannot make a mount namespace for the small disk (unshare: ${err.message})`)),
    );
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const mounted: string[] = [];

/** Mounts an empty tmpfs of `bytes` over `dir` (created if missing); only inside the namespace. */
export function mountSmallDisk(dir: string, bytes: number): void {
  if (!inMountNamespace()) throw new Error("mountSmallDisk: not inside the drill's mount namespace");
  mkdirSync(dir, { recursive: true });
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "ferry-small-disk", dir], { encoding: "utf8" });
  if (r.status !== 0)
    throw new Error(`cannot mount a ${bytes}-byte tmpfs on ${dir}: ${(r.stderr || r.error?.message || "").trim()}`);
  mounted.push(dir);
}

/** Unmounts every small disk (their contents go), so the folders under them can be removed. */
export function unmountSmallDisks(): void {
  for (const dir of mounted.splice(0).reverse()) spawnSync("umount", ["--lazy", dir]);
}

/** A file that takes every free byte of the disk holding `dir`, until released. */
export interface Filler {
  bytes: number;
  release(): void;
}

/** Writes zeros into `dir` until the disk is full (ENOSPC, in 1 MiB then 4 KiB blocks); returns how much it took. */
export async function fillDisk(dir: string): Promise<Filler> {
  const path = join(dir, "ferry-drill-filler");
  const file = await open(path, "w");
  let bytes = 0;
  try {
    for (const size of [1024 * 1024, 4096]) bytes += await writeUntilFull(file, Buffer.alloc(size));
  } finally {
    await file.close();
  }
  return { bytes, release: () => rmSync(path, { force: true }) };
}

async function writeUntilFull(file: FileHandle, block: Buffer): Promise<number> {
  let bytes = 0;
  try {
    for (;;) {
      const { bytesWritten } = await file.write(block, 0, block.length);
      bytes += bytesWritten;
      if (bytesWritten < block.length) return bytes;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
    return bytes;
  }
}

/** Free bytes on the disk holding `dir`. */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}
