/** Links from a file to its trace in Jaeger's UI. */
import type { Deployment } from "../shared/topology/deployment.ts";

/** Where people open traces: `FERRY_JAEGER_URL`, else the Jaeger `ferry up` started; undefined when neither is known. */
export function jaegerQueryUrl(d: Pick<Deployment, "jaeger">): string | undefined {
  return process.env.FERRY_JAEGER_URL || d.jaeger?.queryUrl || undefined;
}

/** The page of one trace: `<query url>/trace/<traceId>`. */
export function traceUrl(queryUrl: string, traceId: string): string {
  return `${queryUrl.replace(/\/+$/, "")}/trace/${traceId}`;
}
