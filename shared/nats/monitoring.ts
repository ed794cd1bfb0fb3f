/** Clients of nats-server's HTTP monitoring endpoints (/healthz, /leafz), on loopback. */
import { pollUntil } from "../retry.ts";
import type { ServerEndpoint } from "../topology/deployment.ts";

/** A nats-server whose HTTP monitoring port is on this host's loopback. */
type MonitoredServer = Pick<ServerEndpoint, "monitorPort">;

/** Plain /healthz on a single server also checks that every stored stream was recovered. */
export async function healthz(monitorPort: number, signal: AbortSignal): Promise<boolean | string> {
  const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`, { signal });
  if (res.status === 200) return true;
  return `/healthz ${res.status} ${(await res.text()).trim()}`;
}

/**
 * Why the server's JetStream is off while the server runs (nats-server disables it on a full disk:
 * "JetStream out of space, will be DISABLED", nats-server #7654), or undefined when it is on or the
 * server does not answer. Only a 503 naming JetStream counts: a server that is down, starting or
 * too busy to answer at once (/healthz says 500 "failed to be ready for connections after 1ms" when
 * its check took more than a millisecond) is not this kind of trouble.
 */
export async function jetStreamDisabled(monitorPort: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz?js-enabled-only=true`, {
      signal: AbortSignal.timeout(2000),
    });
    const body = (await res.text()).trim();
    const off = res.status === 503 && /JetStream not enabled/i.test(body);
    return off ? `JetStream is disabled (/healthz ${res.status} ${body})` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Which leaves (by server name) have a link to the hub; every name in `clouds` is present, false if not
 * linked. A leaf links to one node of a clustered hub, so every node is asked; it throws only when none answers.
 */
export async function leafLinks(
  hub: MonitoredServer | MonitoredServer[],
  clouds: string[] = [],
): Promise<Record<string, boolean>> {
  const nodes = Array.isArray(hub) ? hub : [hub];
  const answers = await Promise.allSettled(nodes.map((n) => leafNames(n)));
  const ok = answers.flatMap((a) => (a.status === "fulfilled" ? [a.value] : []));
  if (ok.length === 0) throw (answers[0] as PromiseRejectedResult).reason;
  const links: Record<string, boolean> = Object.fromEntries(clouds.map((c) => [c, false]));
  for (const name of ok.flat()) links[name] = true;
  return links;
}

async function leafNames(hub: MonitoredServer): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${hub.monitorPort}/leafz`, { signal: AbortSignal.timeout(2000) });
  if (res.status !== 200) throw new Error(`hub /leafz answered ${res.status}`);
  // nats-server 2.14: { server_id, now, leafnodes, leafs: [{ name, account, ip, port, ... }] }
  const body = (await res.json()) as { leafs?: { name?: string }[] };
  return (body.leafs ?? []).flatMap((l) => (l.name ? [l.name] : []));
}

/** Resolves once every cloud's leaf is linked to the hub; rejects after `timeoutMs` naming the missing ones. */
export async function waitForLeafLinks(
  hub: ServerEndpoint | ServerEndpoint[],
  clouds: string[],
  timeoutMs: number,
): Promise<void> {
  await pollUntil(
    "every leaf linked to the hub",
    async () => {
      const links = await leafLinks(hub, clouds);
      const missing = clouds.filter((c) => !links[c]);
      return missing.length === 0 || `not linked: ${missing.join(", ")}`;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** The name of the node leading the JetStream meta group, asked of each node in turn; undefined when none says. */
export async function metaLeader(nodes: MonitoredServer[]): Promise<string | undefined> {
  for (const n of nodes) {
    try {
      const res = await fetch(`http://127.0.0.1:${n.monitorPort}/jsz`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { meta_cluster?: { leader?: string } };
      if (body.meta_cluster?.leader) return body.meta_cluster.leader;
    } catch {
      // that node is not answering: ask the next
    }
  }
  return undefined;
}
