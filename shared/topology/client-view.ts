/**
 * What a client needs to use a deployment from any machine that reaches its hub: the topology, the
 * servers and how to open each cloud's store. `ferry up` publishes it to the hub's KV bucket
 * `ferry_deployment`; `status`, `get`, `cat`, `report` and `dead-letters` run with `--hub URL` read it
 * from there instead of a local deployment.json. It holds no secret (store credentials come from
 * each machine's environment) and no local folder a remote client could not use anyway, except an
 * `fs` store's root, which only the deployment's own host can read.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { StoreOpenSpec } from "../stores/registry.ts";
import { DEPLOYMENT_BUCKET } from "../stream-names.ts";
import type { Topology } from "./config.ts";
import type { Deployment } from "./deployment.ts";

/** A deployment as clients see it. A Deployment is one too: local commands use deployment.json as it is. */
export interface ClientView {
  topology: Topology;
  /** `monitorPort` is the hub's HTTP monitoring, on its host's loopback. */
  hub: { url: string; monitorPort?: number };
  leaves: Record<string, { url: string }>;
  /** How to open each cloud's store, keyed by cloud name. */
  stores: Record<string, StoreOpenSpec>;
  jaeger?: { otlpUrl: string; queryUrl: string };
}

/** The key in DEPLOYMENT_BUCKET that holds the view. */
const VIEW_KEY = "client-view";

/** The part of a deployment that is published: what ClientView names, nothing else. */
export function clientViewOf(d: Deployment): ClientView {
  return {
    topology: d.topology,
    hub: { url: d.hub.url },
    leaves: Object.fromEntries(Object.entries(d.leaves).map(([cloud, leaf]) => [cloud, { url: leaf.url }])),
    stores: d.stores,
    ...(d.jaeger ? { jaeger: d.jaeger } : {}),
  };
}

/** Writes the view of `d` to the hub (the bucket is declared with the streams). `js` speaks to the hub. */
export async function publishClientView(js: JetStreamClient, d: Deployment): Promise<void> {
  const kv = await new Kvm(js).open(DEPLOYMENT_BUCKET);
  await kv.put(VIEW_KEY, JSON.stringify(clientViewOf(d)));
}

/**
 * The view published on the hub `js` is connected to (no domain needed: it is that server's own
 * JetStream), or undefined when the hub has none: a deployment started by an older ferry.
 */
export async function readClientView(js: JetStreamClient): Promise<ClientView | undefined> {
  try {
    const kv = await new Kvm(js).open(DEPLOYMENT_BUCKET);
    const e = await kv.get(VIEW_KEY);
    return e?.operation === "PUT" && e.length > 0 ? e.json<ClientView>() : undefined;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return undefined;
    throw err;
  }
}
