/**
 * The W3C trace context (`traceparent`, `tracestate`) in NATS message headers. JetStream stores
 * headers with the message and stream sourcing copies them, so a context injected at a cloud's
 * leaf still reaches the orchestrator reading the hub's EVENTS stream.
 */

import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import { type Context, context, propagation, type TextMapGetter, type TextMapSetter } from "@opentelemetry/api";

const setter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

const getter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (carrier) => carrier?.keys() ?? [],
  // MsgHdrs.get answers "" for a missing header; the propagator wants undefined.
  get: (carrier, key) => (carrier?.has(key) ? carrier.get(key) : undefined),
};

/** Writes the context (default: the active one) into `into`, or new headers, and returns them. */
export function injectTraceHeaders(into: MsgHdrs = natsHeaders(), ctx: Context = context.active()): MsgHdrs {
  propagation.inject(ctx, into, setter);
  return into;
}

/** The context a message carries, on top of `base` (default: the active one); `base` itself when it carries none. */
export function extractTraceContext(h: MsgHdrs | undefined, base: Context = context.active()): Context {
  return propagation.extract(base, h, getter);
}
