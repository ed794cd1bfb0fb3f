import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connectNats } from "../../shared/nats/connect.ts";
import type { NatsIdentity } from "../../shared/nats/identity.ts";

/**
 * What a deployment wrote, as (where, text) pairs for a search: its files, every message of every
 * stream (KV buckets included) on a server, and its traces in Jaeger. Bytes are read as latin1, so
 * a value in a binary file (a JetStream block) is found like one in a log.
 */

/** Every file under `root` but those `skip` accepts (paths relative to root). */
export function filesUnder(root: string, skip: (rel: string) => boolean): [string, string][] {
  const out: [string, string][] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = statSync(path, { throwIfNoEntry: false });
      if (!st) continue; // gone since the listing (a rotated log, a compacted block)
      if (st.isDirectory()) walk(path);
      else if (st.isFile() && !skip(relative(root, path))) out.push([path, readFileSync(path).toString("latin1")]);
    }
  };
  walk(root);
  return out;
}

/** Every message (subject, headers, payload) of every stream in `domain` on the server at `url`. */
export async function streamMessages(url: string, domain: string, identity: NatsIdentity): Promise<[string, string][]> {
  const nc = await connectNats(url, "test-stream-search", identity);
  const out: [string, string][] = [];
  try {
    const jsm = await jetstream(nc, { domain }).jetstreamManager();
    for await (const info of jsm.streams.list()) {
      const name = info.config.name;
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage(name, { seq }).catch(() => null); // deleted or expired since
        if (!m) continue;
        const headers = m.header ? [...m.header.keys()].map((k) => `${k}: ${m.header.values(k).join(",")}`) : [];
        const text = [m.subject, ...headers, Buffer.from(m.data).toString("latin1")].join("\n");
        out.push([`${domain} stream ${name} #${seq}`, text]);
      }
    }
  } finally {
    await nc.close();
  }
  return out;
}

/** Every trace Jaeger at `queryUrl` holds for every service, as its query API returns them (spans, tags, logs). */
export async function jaegerTraces(queryUrl: string): Promise<[string, string][]> {
  const services = ((await (await fetch(`${queryUrl}/api/services`)).json()) as { data: string[] | null }).data ?? [];
  const out: [string, string][] = [];
  for (const service of services) {
    const res = await fetch(`${queryUrl}/api/traces?service=${encodeURIComponent(service)}&limit=10000&lookback=6h`);
    out.push([`jaeger traces of ${service}`, await res.text()]);
  }
  return out;
}
