/**
 * shared/nats/monitoring.ts jetStreamDisabled: what makes the supervisor restart a running server.
 * A stand-in for nats-server's /healthz answers as nats-server 2.14 does (its bodies copied).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetStreamDisabled } from "../../shared/nats/monitoring.ts";

let answer = { status: 200, body: '{"status":"ok","status_code":200}' };
let server: Server;
let port: number;

beforeAll(async () => {
  server = createServer((_req, res) => res.writeHead(answer.status).end(answer.body));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise((r) => server.close(r)));

describe("jetStreamDisabled", () => {
  it("names a server whose JetStream is off (a full disk turned it off)", async () => {
    answer = {
      status: 503,
      body: '{"status":"unavailable","status_code":503,"error":"JetStream not enabled (10076)"}',
    };
    expect(await jetStreamDisabled(port)).toMatch(/^JetStream is disabled \(\/healthz 503 .*not enabled/);
  });

  it("is quiet for a healthy server, a busy one, and one that does not answer", async () => {
    answer = { status: 200, body: '{"status":"ok","status_code":200}' };
    expect(await jetStreamDisabled(port)).toBeUndefined();
    // What /healthz says when its own 1 ms readiness check was preempted on a loaded machine.
    answer = {
      status: 500,
      body: '{"status":"error","status_code":500,"error":"failed to be ready for connections after 1ms: "}',
    };
    expect(await jetStreamDisabled(port)).toBeUndefined();
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const gone = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    expect(await jetStreamDisabled(gone)).toBeUndefined();
  });
});
