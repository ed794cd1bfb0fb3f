import { trace } from "@opentelemetry/api";
import pino, { type DestinationStream, type Logger } from "pino";
import pretty from "pino-pretty";

export type { Logger };

/**
 * The root logger of a process, on stderr (stdout belongs to command output): JSON lines, or
 * human-readable lines when stderr is a terminal. Every line logged while a span is active carries
 * its `trace_id` and `span_id`, so a log line leads to its trace. Components take a child logger
 * (`log.child({ fileId, index })`). `FERRY_LOG_LEVEL` picks the level. @default "info"
 */
export function createLogger(bindings: Record<string, string | number>): Logger {
  const destination: DestinationStream = process.stderr.isTTY
    ? pretty({ destination: 2, colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" })
    : pino.destination(2);
  return pino(
    { level: process.env.FERRY_LOG_LEVEL ?? "info", base: { pid: process.pid, ...bindings }, mixin: traceFields },
    destination,
  );
}

/** `trace_id` and `span_id` of the active span; nothing outside a span or when tracing is off. */
export function traceFields(): { trace_id?: string; span_id?: string } {
  const ctx = trace.getActiveSpan()?.spanContext();
  return ctx && trace.isSpanContextValid(ctx) ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
}
