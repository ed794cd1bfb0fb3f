/**
 * What each host can see, checked from inside it: its own folder, and neither another host's folder
 * nor the client's; and its environment holds only what the runner gave it (hostEnv). And what it
 * reaches: each leaf's link to the hub goes through its proxy.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readDeployment } from "../../shared/topology/deployment.ts";
import { leafLink } from "./host-bundles.ts";
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

/** Where a cloud's leaf is linked to the hub, from its own /leafz. */
export interface LeafRoute {
  cloud: string;
  /** The port its link to the hub dials. */
  port: number | undefined;
  /** Whether that is one of its proxies to the hub: false means it found a way around the network. */
  throughProxy: boolean;
}

/** Asks every cloud's leaf which hub port its link dials. */
export async function leafRoutes(lab: HostsLab): Promise<LeafRoute[]> {
  const out: LeafRoute[] = [];
  for (const [cloud, host] of lab.hosts) {
    if (cloud === "hub") continue;
    const leaf = readDeployment(host.dir).leaves[cloud];
    const res = await fetch(`http://127.0.0.1:${leaf?.monitorPort}/leafz`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { leafs?: Array<{ port?: number }> };
    const port = body.leafs?.[0]?.port;
    const proxies = lab.hub.hubNodes.map((_, i) => lab.wan.port(leafLink(cloud, i)));
    out.push({ cloud, port, throughProxy: port !== undefined && proxies.includes(port) });
  }
  return out;
}
