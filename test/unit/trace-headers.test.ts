/** The W3C trace context through NATS message headers, and log lines that name their span. */

import { headers } from "@nats-io/transport-node";
import { context, trace } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { traceFields } from "../../observability/log.ts";
import { activeTraceId, withSpan } from "../../observability/spans.ts";
import { extractTraceContext, injectTraceHeaders } from "../../observability/trace-headers.ts";
import { initTracing, type Tracing } from "../../observability/tracing.ts";

let tracing: Tracing | undefined;
afterEach(async () => {
  await tracing?.shutdown();
  tracing = undefined;
  delete process.env.OTEL_SDK_DISABLED;
});

describe("trace headers", () => {
  it("carry the publishing span's context to the consumer, which continues the same trace", async () => {
    tracing = initTracing({ service: "ferry-test" });
    expect(tracing.exporting).toBe(false); // no endpoint: ids and propagation only
    const sent = await withSpan("publish test.subject", {}, async (span) => ({
      h: injectTraceHeaders(),
      ctx: span.spanContext(),
    }));
    expect(sent.h.get("traceparent")).toBe(`00-${sent.ctx.traceId}-${sent.ctx.spanId}-01`);

    // What a consumer does with the headers of the message it pulled.
    const received = trace.getSpanContext(extractTraceContext(sent.h, context.active()));
    expect(received).toEqual({ traceId: sent.ctx.traceId, spanId: sent.ctx.spanId, traceFlags: 1, isRemote: true });
    const child = await context.with(extractTraceContext(sent.h), () =>
      withSpan("process test.subject", {}, async () => activeTraceId()),
    );
    expect(child).toBe(sent.ctx.traceId);
  });

  it("keep the headers a publisher already set", async () => {
    tracing = initTracing({ service: "ferry-test" });
    const h = headers();
    h.set("Nats-Msg-Id", "file-1:0:ingested:aws");
    await withSpan("publish", {}, async () => injectTraceHeaders(h));
    expect(h.get("Nats-Msg-Id")).toBe("file-1:0:ingested:aws");
    expect(h.get("traceparent")).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it("start a new trace when a message carries no context (a plain NATS client's request)", async () => {
    tracing = initTracing({ service: "ferry-test" });
    const ctx = extractTraceContext(undefined);
    expect(trace.getSpanContext(ctx)).toBeUndefined();
    const a = await context.with(ctx, () => withSpan("process", {}, async () => activeTraceId()));
    const b = await context.with(extractTraceContext(headers()), () =>
      withSpan("process", {}, async () => activeTraceId()),
    );
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(b).toMatch(/^[0-9a-f]{32}$/);
    expect(a).not.toBe(b);
  });

  it("are not written when OTEL_SDK_DISABLED=true, and nothing has a trace id", async () => {
    process.env.OTEL_SDK_DISABLED = "true";
    tracing = initTracing({ service: "ferry-test" });
    const h = await withSpan("publish", {}, async () => injectTraceHeaders());
    expect(h.has("traceparent")).toBe(false);
    expect(await withSpan("process", {}, async () => activeTraceId())).toBeUndefined();
  });
});

describe("log lines", () => {
  it("carry trace_id and span_id of the active span, and nothing outside a span", async () => {
    tracing = initTracing({ service: "ferry-test" });
    expect(traceFields()).toEqual({});
    const { fields, ctx } = await withSpan("work", {}, async (span) => ({
      fields: traceFields(),
      ctx: span.spanContext(),
    }));
    expect(fields).toEqual({ trace_id: ctx.traceId, span_id: ctx.spanId });
  });
});
