/**
 * The OpenTelemetry SDK for one ferry process, wired once at its entry point; everything else uses
 * only `@opentelemetry/api` (observability/spans.ts). Ids are generated and the W3C context is
 * propagated whether or not spans are exported, so every file has a trace id.
 */
import { context, type DiagLogger, DiagLogLevel, diag, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  defaultResource,
  detectResources,
  resourceAttributesEnvDetector,
  resourceFromAttributes,
  serviceNameEnvDetector,
} from "@opentelemetry/resources";
import { BatchSpanProcessor, type SpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import type { Logger } from "./log.ts";
import { ATTR_CLOUD_PROVIDER, ATTR_SERVICE_NAME } from "./semconv.ts";

export interface TracingOptions {
  /** `service.name`: `ferry-<stage>`, `ferry-orchestrator`, `ferry-cli`. OTEL_SERVICE_NAME wins over it. */
  service: string;
  /** `cloud.provider`: the cloud this process works in (none for the hub and the CLI). */
  cloud?: string;
  /**
   * Where to export when neither OTEL_EXPORTER_OTLP_TRACES_ENDPOINT nor OTEL_EXPORTER_OTLP_ENDPOINT is
   * set: an OTLP/HTTP base URL such as `http://127.0.0.1:4318` (the deployment's Jaeger).
   */
  otlpUrl?: string;
  /** Receives the SDK's own warnings (e.g. an export that failed). */
  log?: Logger;
}

export interface Tracing {
  /** Whether finished spans are sent anywhere. */
  readonly exporting: boolean;
  /** Exports what is still buffered and unregisters the SDK; idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Registers the tracer provider, the async-hooks context manager and the W3C propagator for this
 * process. Honours OTEL_SDK_DISABLED, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, the OTLP exporter's
 * OTEL_EXPORTER_OTLP_* variables and the batch processor's OTEL_BSP_* variables.
 */
export function initTracing(options: TracingOptions): Tracing {
  if (envFlag("OTEL_SDK_DISABLED")) return { exporting: false, shutdown: async () => {} };
  if (options.log) diag.setLogger(diagToPino(options.log), DiagLogLevel.WARN);
  const resource = defaultResource()
    .merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: options.service,
        ...(options.cloud ? { [ATTR_CLOUD_PROVIDER]: options.cloud } : {}),
      }),
    )
    // Later detectors win: OTEL_SERVICE_NAME over a service.name in OTEL_RESOURCE_ATTRIBUTES.
    .merge(detectResources({ detectors: [resourceAttributesEnvDetector, serviceNameEnvDetector] }));
  const processor = exportProcessor(options.otlpUrl);
  const provider = new TracerProvider({ resource, spanProcessors: processor ? [processor] : [] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  let closed: Promise<void> | undefined;
  return {
    exporting: processor !== undefined,
    shutdown: () =>
      (closed ??= (async () => {
        try {
          await provider.shutdown();
        } finally {
          // Unregistered, so a later initTracing in the same process (tests) can register again.
          trace.disable();
          propagation.disable();
          context.disable();
          diag.disable();
        }
      })()),
  };
}

/** A batch processor with the OTLP/HTTP exporter, or none when there is nowhere to export to. */
function exportProcessor(otlpUrl: string | undefined): SpanProcessor | undefined {
  if (process.env.OTEL_TRACES_EXPORTER === "none") return undefined;
  const fromEnv = Boolean(process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_ENDPOINT);
  // The exporter reads the OTEL_EXPORTER_OTLP_* variables itself; a url given here would override them.
  let exporter: OTLPTraceExporter;
  if (fromEnv) exporter = new OTLPTraceExporter({});
  else if (otlpUrl) exporter = new OTLPTraceExporter({ url: `${otlpUrl.replace(/\/+$/, "")}/v1/traces` });
  else return undefined;
  // This SDK version no longer reads the OTEL_BSP_* variables, so they are read here.
  return new BatchSpanProcessor({
    exporter,
    ...envNumber("OTEL_BSP_SCHEDULE_DELAY", "scheduledDelayMillis"),
    ...envNumber("OTEL_BSP_EXPORT_TIMEOUT", "exportTimeoutMillis"),
    ...envNumber("OTEL_BSP_MAX_QUEUE_SIZE", "maxQueueSize"),
    ...envNumber("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "maxExportBatchSize"),
  });
}

function envNumber<K extends string>(name: string, key: K): Partial<Record<K, number>> {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return {};
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    diag.warn(`${name}=${JSON.stringify(raw)} is not a non-negative number; using the default`);
    return {};
  }
  return { [key]: n } as Partial<Record<K, number>>;
}

const envFlag = (name: string): boolean => (process.env[name] ?? "").trim().toLowerCase() === "true";

/** The SDK's diagnostics as pino warnings, so a failing export shows in the worker's log. */
function diagToPino(log: Logger): DiagLogger {
  const child = log.child({ component: "otel" });
  const at =
    (level: "error" | "warn" | "info" | "debug" | "trace") =>
    (message: string, ...args: unknown[]) =>
      child[level]({ args: args.map(String) }, message);
  return { error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug"), verbose: at("trace") };
}
