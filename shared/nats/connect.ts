import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type NatsIdentity, natsAuthOptions } from "./identity.ts";
import { natsTlsOptions } from "./tls-options.ts";

/** Connects with the settings every ferry process needs: never give up reconnecting. `url` may list every hub node. */
export function connectNats(url: string | string[], name: string, identity?: NatsIdentity): Promise<NatsConnection> {
  return connect({
    ...natsAuthOptions(identity),
    servers: url,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 10_000,
    ...natsTlsOptions(),
  });
}
