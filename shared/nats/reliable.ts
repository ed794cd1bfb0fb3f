/**
 * A client connection that rides out faults and never waits forever. Reads go through `run`, which
 * tries again across reconnects and server restarts; a watcher pings the server every second (more
 * often for a short timeout), and when the server has been silent or unreachable for `timeoutMs`
 * everything in flight is aborted with a ServerUnreachableError that names the server. Commands use
 * this instead of connecting directly, so a restart costs them a pause and a frozen or absent server
 * a clear message within the timeout.
 */
import type { KvEntry } from "@nats-io/kv";
import { AuthorizationError, connect, type NatsConnection, TimeoutError } from "@nats-io/transport-node";
import { describeError, FerryError } from "../errors.ts";
import type { ManifestReader } from "../manifest.ts";
import { pause } from "../retry.ts";
import { seedFile } from "./credentials.ts";
import { identityFromEnv, type NatsIdentity, natsAuthOptions } from "./identity.ts";
import { natsTlsOptions, untrustedCertificate } from "./tls-options.ts";

/** A server stayed silent or unreachable for longer than the caller would wait; the message names it. */
export class ServerUnreachableError extends FerryError {
  override readonly retryable = true;
}

/** How long a command waits for a silent or unreachable server. @default 10 s */
export const DEFAULT_SERVER_TIMEOUT_MS = 10_000;

/** How often the watcher pings: every second, or four times per timeout when that is shorter. */
const probeEveryMs = (timeoutMs: number): number => Math.min(1000, Math.max(50, Math.floor(timeoutMs / 4)));

export interface ReliableOptions {
  /** Client name the server shows for this connection. */
  name: string;
  /** Who the servers are, for messages: `the hub`. */
  role: string;
  /** How long the server may stay silent or unreachable. @default DEFAULT_SERVER_TIMEOUT_MS */
  timeoutMs?: number;
  /** What to do about it, appended to the message: `see .ferry/logs/hub.log`. */
  hint?: string;
  /** Who connects (else FERRY_NATS_IDENTITY and FERRY_NATS_HOME, else no credentials). */
  identity?: NatsIdentity;
}

/** A connection with a silence watcher; `run` for every request whose answer the caller needs. */
export interface ReliableConnection {
  nc: NatsConnection;
  /** Aborted with a ServerUnreachableError once the server has been silent for the timeout. */
  signal: AbortSignal;
  /**
   * Runs `op` (a read, or a publish that is idempotent through its message id) until it succeeds,
   * trying again after failures for up to the timeout; a FerryError from `op` is an answer and is
   * thrown at once.
   */
  run<T>(what: string, op: () => Promise<T>): Promise<T>;
  /** Stops the watcher and closes the connection, without waiting on a server that does not answer. */
  close(): Promise<void>;
}

/** Connects to the first of `servers` that answers, trying for up to the timeout; then watches it. */
export async function connectReliably(servers: string[], options: ReliableOptions): Promise<ReliableConnection> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_SERVER_TIMEOUT_MS;
  const where = `${options.role} at ${servers.join(", ")}`;
  const tail = options.hint ? `: ${options.hint}` : "";
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const nc = await connect({
        ...natsAuthOptions(options.identity),
        servers,
        name: options.name,
        timeout: Math.max(500, deadline - Date.now()),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        pingInterval: 10_000,
        ...natsTlsOptions(),
      });
      return watch(nc, where, tail, timeoutMs);
    } catch (err) {
      if (err instanceof AuthorizationError) throw new ServerUnreachableError(`${where} ${refusal(options.identity)}`);
      const untrusted = untrustedCertificate(err);
      if (untrusted) throw new ServerUnreachableError(`${where}: ${untrusted}`, { cause: err });
      if (Date.now() >= deadline - 250) {
        throw new ServerUnreachableError(
          `cannot reach ${where}: no answer within ${seconds(timeoutMs)} (${whyNoConnection(err)})${tail}`,
          { cause: err },
        );
      }
      await pause(250);
    }
  }
}

function watch(nc: NatsConnection, where: string, tail: string, timeoutMs: number): ReliableConnection {
  const silence = new AbortController();
  let lastHeard = Date.now();
  let connected = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") connected = false;
      if (s.type === "reconnect") {
        connected = true;
        lastHeard = Date.now();
      }
    }
  })().catch(() => undefined);
  const probe = setInterval(() => {
    if (Date.now() - lastHeard > timeoutMs) {
      clearInterval(probe);
      const state = connected
        ? "the connection is open but nothing comes back: stopped or overloaded?"
        : "disconnected, not back yet";
      silence.abort(
        new ServerUnreachableError(`${where} has not answered for ${seconds(timeoutMs)} (${state})${tail}`),
      );
      return;
    }
    nc.flush().then(
      () => (lastHeard = Date.now()),
      () => undefined,
    );
  }, probeEveryMs(timeoutMs));
  probe.unref();
  const signal = silence.signal;
  return {
    nc,
    signal,
    run: (what, op) => runReliably(what, op, signal, timeoutMs, where, () => (lastHeard = Date.now())),
    close: async () => {
      clearInterval(probe);
      await Promise.race([nc.close().catch(() => undefined), pause(1000)]);
    },
  };
}

async function runReliably<T>(
  what: string,
  op: () => Promise<T>,
  signal: AbortSignal,
  timeoutMs: number,
  where: string,
  heard: () => void,
): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    signal.throwIfAborted();
    try {
      const value = await untilAborted(op(), signal);
      heard();
      return value;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (err instanceof FerryError) throw err;
      if (Date.now() - started >= timeoutMs) {
        throw new ServerUnreachableError(
          `${what}: ${where} kept failing for ${seconds(timeoutMs)} (last error: ${describeError(err)})`,
          { cause: err },
        );
      }
      await pause(Math.min(1000, 100 * 2 ** attempt), signal);
    }
  }
}

/** `p`, or the abort reason as soon as `signal` aborts (p's own late failure is then ignored). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  p.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** The manifest read through `rc.run`: every get and key listing rides out reconnects. */
export function reliableManifest(
  rc: Pick<ReliableConnection, "run">,
  kv: { get(key: string): Promise<KvEntry | null>; keys(filter?: string): Promise<AsyncIterable<string>> },
): ManifestReader {
  return {
    get: (key) => rc.run(`reading ${key} from the manifest`, () => kv.get(key)),
    keys: async (filter) => {
      const all = await rc.run(`listing ${filter ?? "keys"} in the manifest`, async () => {
        const out: string[] = [];
        for await (const k of await kv.keys(filter)) out.push(k);
        return out;
      });
      return (async function* () {
        yield* all;
      })();
    },
  };
}

/** What to say when the server refuses the connection's credentials, with how to give the right ones. */
function refusal(identity: NatsIdentity | undefined): string {
  const who = identity ?? identityFromEnv();
  return who
    ? `refused the NATS identity "${who.name}" (seed ${seedFile(who.home, who.name)}): is it this deployment's?`
    : "refused a connection without NATS credentials: set FERRY_NATS_HOME to a folder holding credentials/nats/cli.nk from the hub's bundle";
}

/** What a failed connect says about the server. */
function whyNoConnection(err: unknown): string {
  if (err instanceof TimeoutError) return "it accepts connections but says nothing: stopped or overloaded?";
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : "";
  return `${describeError(err)}${cause}`;
}

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(1))} s`;
