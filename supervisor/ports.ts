import { createServer, type Server } from "node:net";

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port as number;
}

/** `n` distinct free ports on 127.0.0.1. */
export async function freePorts(n: number): Promise<number[]> {
  // Hold every listener open until all are bound, so the OS cannot hand out the same port twice.
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await listenEphemeral());
    return servers.map((s) => {
      const addr = s.address();
      if (addr === null || typeof addr === "string") throw new Error("freePorts: listener has no TCP address");
      return addr.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function listenEphemeral(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}
