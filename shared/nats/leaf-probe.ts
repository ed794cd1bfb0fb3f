import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

/**
 * Which clouds' leaves answer through the hub `nc` is connected to: a leaf's JetStream domain is
 * reachable from the hub only over its leaf link. For clients on other machines, which cannot reach
 * the hub's HTTP monitoring on its loopback (monitoring.ts `leafLinks`).
 */
export async function leafLinksOverNats(
  nc: NatsConnection,
  clouds: string[],
  timeoutMs = 2000,
): Promise<Record<string, boolean>> {
  const answers = await Promise.all(
    clouds.map((cloud) =>
      jetstreamManager(nc, { domain: cloud, timeout: timeoutMs }).then(
        () => true,
        () => false,
      ),
    ),
  );
  return Object.fromEntries(clouds.map((c, i) => [c, answers[i] ?? false]));
}
