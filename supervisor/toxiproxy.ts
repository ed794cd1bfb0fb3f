import { toolBinary, toolHint } from "../shared/process/binaries.ts";
import { httpAnswers } from "../shared/process/server-spec.ts";
import { ServerProcess } from "./server-process.ts";

/** A toxic toxiproxy applies to a link: `reset_peer` (connection resets), `latency`, `timeout`, `bandwidth`, … */
export interface Toxic {
  name: string;
  type: string;
  stream?: "upstream" | "downstream";
  toxicity?: number;
  attributes?: Record<string, number>;
}

/** A running toxiproxy: links between 127.0.0.1 ports that tests can slow, break and cut. */
export interface Toxiproxy {
  process: ServerProcess;
  apiUrl: string;
  /** Creates a link listening on 127.0.0.1:`listenPort` that forwards to `upstream` (host:port). */
  link(name: string, listenPort: number, upstream: string): Promise<void>;
  addToxic(link: string, toxic: Toxic): Promise<void>;
  removeToxic(link: string, toxic: string): Promise<void>;
  /** Cuts (false) or restores (true) a link: a partition. */
  setEnabled(link: string, enabled: boolean): Promise<void>;
  stop(): Promise<void>;
}

/** Starts toxiproxy's server on 127.0.0.1:`apiPort` (pinned v2.12.0, built by the set-up). */
export async function startToxiproxy(options: { apiPort: number; logFile?: string }): Promise<Toxiproxy> {
  const apiUrl = `http://127.0.0.1:${options.apiPort}`;
  const process = new ServerProcess({
    label: "toxiproxy",
    binary: toolBinary("toxiproxy-server"),
    args: ["-host", "127.0.0.1", "-port", String(options.apiPort)],
    ports: [options.apiPort],
    ready: httpAnswers(`${apiUrl}/version`, 200),
    ...(options.logFile ? { logFile: options.logFile } : {}),
    missingBinaryHint: toolHint("toxiproxy-server"),
  });
  await process.start();
  const call = async (method: string, path: string, body?: unknown): Promise<void> => {
    const res = await fetch(`${apiUrl}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`toxiproxy ${method} ${path}: ${res.status} ${(await res.text()).trim()}`);
    await res.body?.cancel();
  };
  return {
    process,
    apiUrl,
    link: (name, listenPort, upstream) =>
      call("POST", "/proxies", { name, listen: `127.0.0.1:${listenPort}`, upstream, enabled: true }),
    addToxic: (link, t) =>
      call("POST", `/proxies/${link}/toxics`, { stream: "downstream", toxicity: 1, attributes: {}, ...t }),
    removeToxic: (link, toxic) => call("DELETE", `/proxies/${link}/toxics/${toxic}`),
    setEnabled: (link, enabled) => call("POST", `/proxies/${link}`, { enabled }),
    stop: () => process.stop(),
  };
}
