import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";

/** Lowest port picked: above the well-known and most registered service ports. */
const LOWEST_PICKED = 10_000;
const ATTEMPTS_PER_PORT = 50;

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port as number;
}

/**
 * `n` distinct free ports on 127.0.0.1, chosen at random below the kernel's ephemeral range.
 * A port the OS hands out for `listen(0)` lies inside that range, where any process's outgoing
 * connection may take it between the pick and the server's bind ("port already in use" under a
 * busy test run); below the range only another explicit bind can.
 */
export async function freePorts(n: number): Promise<number[]> {
  // Hold every listener open until all are bound, so no port is handed out twice.
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await listenOnPickedPort());
    return servers.map((s) => {
      const addr = s.address();
      if (addr === null || typeof addr === "string") throw new Error("freePorts: listener has no TCP address");
      return addr.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

async function listenOnPickedPort(): Promise<Server> {
  const [low, high] = pickRange();
  for (let i = 0; i < ATTEMPTS_PER_PORT; i++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    const server = await listen(port).catch(() => undefined);
    if (server) return server;
  }
  return listen(0); // the range below is crowded: fall back to what the OS picks
}

/** Ports below the ephemeral range, or the OS's choice when that range starts too low to leave room. */
function pickRange(): [number, number] {
  const ephemeralStart = ephemeralRangeStart();
  return ephemeralStart - LOWEST_PICKED >= 1000 ? [LOWEST_PICKED, ephemeralStart - 1] : [0, 0];
}

function ephemeralRangeStart(): number {
  try {
    const [start] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const value = Number(start);
    return Number.isInteger(value) && value > 0 ? value : 32_768;
  } catch {
    return 32_768; // Linux's default; other systems pick from 49152 up
  }
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}
