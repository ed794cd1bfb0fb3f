/**
 * Small helpers over `@opentelemetry/api` for code that makes spans. Only the API is used here:
 * without `initTracing` every call is a no-op.
 */
import { type Attributes, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import { TRACER_NAME } from "./semconv.ts";

export const tracer = (): Tracer => trace.getTracer(TRACER_NAME);

/** Marks a span failed: the exception as an event, status ERROR with the error's message. */
export function recordFailure(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** Marks the active span (if any) failed; for code that handles an error below the span's owner. */
export function failActiveSpan(err: unknown): void {
  const span = trace.getActiveSpan();
  if (span) recordFailure(span, err);
}

export interface SpanOptions {
  /** @default SpanKind.INTERNAL */
  kind?: SpanKind;
  /** Start a new trace instead of a child of the active span. @default false */
  root?: boolean;
}

/** Runs `fn` in a new active span that ends when `fn` settles; a throw marks it failed and is rethrown. */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
  options: SpanOptions = {},
): Promise<T> {
  return tracer().startActiveSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes, root: options.root ?? false },
    async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        recordFailure(span, err);
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/** Adds attributes to the active span (if any), e.g. ids learnt only after the span started. */
export function setActiveAttributes(attributes: Attributes): void {
  trace.getActiveSpan()?.setAttributes(attributes);
}

/** The trace id of the active span, or undefined when nothing is traced. */
export function activeTraceId(): string | undefined {
  const ctx = trace.getActiveSpan()?.spanContext();
  return ctx && trace.isSpanContextValid(ctx) ? ctx.traceId : undefined;
}
