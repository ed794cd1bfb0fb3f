/**
 * What each host can see, checked from inside it: its own folder, and neither another host's folder
 * nor the client's; and its environment holds only what the runner gave it (hostEnv).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runInHost, runInsideHost } from "./host-namespace.ts";
import { type HostsLab, hostEnv } from "./hosts-lab.ts";

/** One host's view, as checked. */
export interface HostView {
  host: string;
  /** It reads its own deployment.json. */
  readsOwnFolder: boolean;
  /** Folders of other hosts (or the client's) it could list: none when isolation holds. */
  seesOthers: string[];
  /** Variables in its `ferry up`'s environment that the runner did not give it: none when it holds. */
  strayEnv: string[];
}

/** Checks every running host, and the client host, against every other folder. */
export async function checkIsolation(lab: HostsLab): Promise<HostView[]> {
  const folders = new Map<string, string>([...lab.hosts].map(([name, h]) => [name, h.dir]));
  folders.set("client", lab.clientDir);
  const views: HostView[] = [];
  for (const [name, host] of lab.hosts) {
    const pid = host.main.pid as number;
    const inside = (cmd: string[]) => runInsideHost(pid, cmd);
    views.push({
      host: name,
      readsOwnFolder: (await inside(["cat", join(host.dir, "deployment.json")])).code === 0,
      seesOthers: await visibleOthers(name, folders, inside),
      strayEnv: strayVariables(pid, host.dir),
    });
  }
  const client = (cmd: string[]) => runInHost(lab.clientLayout, cmd, 10_000);
  const probe = join(lab.clientDir, "isolation-probe");
  views.push({
    host: "client",
    readsOwnFolder: (await client(["touch", probe])).code === 0,
    seesOthers: await visibleOthers("client", folders, client),
    strayEnv: [],
  });
  return views;
}

async function visibleOthers(
  self: string,
  folders: Map<string, string>,
  run: (cmd: string[]) => Promise<{ code: number | null }>,
): Promise<string[]> {
  const seen: string[] = [];
  for (const [other, dir] of folders) {
    if (other !== self && (await run(["ls", dir])).code === 0) seen.push(dir);
  }
  return seen;
}

/** Variables of process `pid` that hostEnv(`own`) does not set. */
function strayVariables(pid: number, own: string): string[] {
  const given = new Set(Object.keys(hostEnv(own)));
  const names = readFileSync(`/proc/${pid}/environ`, "utf8")
    .split("\0")
    .filter((kv) => kv !== "")
    .map((kv) => kv.slice(0, kv.indexOf("=")));
  return names.filter((n) => !given.has(n));
}
