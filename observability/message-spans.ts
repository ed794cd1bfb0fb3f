/**
 * Spans for NATS messaging: a CONSUMER span around the handling of each message, a PRODUCER span
 * around each publish, with the trace context carried in the message headers between them.
 */

import type { JetStreamClient, JetStreamPublishOptions, JsMsg, PubAck } from "@nats-io/jetstream";
import { type Attributes, context, SpanKind, trace } from "@opentelemetry/api";
import { peekIds } from "../shared/events.ts";
import type { Logger } from "./log.ts";
import {
  ATTR_CHUNK_INDEX,
  ATTR_FILE_ID,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  ATTR_NATS_DELIVERY_COUNT,
  ATTR_NATS_DUPLICATE,
  ATTR_NATS_STREAM,
  ATTR_NATS_STREAM_SEQUENCE,
  MESSAGING_SYSTEM_NATS,
  OPERATION_PROCESS,
  OPERATION_PUBLISH,
  OPERATION_TYPE_PROCESS,
  OPERATION_TYPE_SEND,
} from "./semconv.ts";
import { activeTraceId, recordFailure, tracer, withSpan } from "./spans.ts";
import { extractTraceContext, injectTraceHeaders } from "./trace-headers.ts";

const MSG_ID_HEADER = "Nats-Msg-Id";

/**
 * Runs `fn` inside a CONSUMER span "process <subject>" whose parent is the context the message was
 * published with (a message handled alone may use its creation context as parent; see semconv.ts).
 * Every delivery gets its own span with the delivery count, so a retried message shows each attempt.
 * `fn` receives a child of `log` carrying the message's file id and chunk index when it has them.
 */
export async function traceMessage<T>(msg: JsMsg, log: Logger, fn: (log: Logger) => Promise<T>): Promise<T> {
  const ids = peekIds(msg.data);
  const msgId = msg.headers?.get(MSG_ID_HEADER);
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_NATS,
    [ATTR_MESSAGING_DESTINATION_NAME]: msg.subject,
    [ATTR_MESSAGING_OPERATION_TYPE]: OPERATION_TYPE_PROCESS,
    [ATTR_MESSAGING_OPERATION_NAME]: OPERATION_PROCESS,
    [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: msg.info.consumer,
    [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: msg.data.length,
    [ATTR_NATS_STREAM]: msg.info.stream,
    [ATTR_NATS_STREAM_SEQUENCE]: msg.info.streamSequence,
    [ATTR_NATS_DELIVERY_COUNT]: msg.info.deliveryCount,
    ...(msgId ? { [ATTR_MESSAGING_MESSAGE_ID]: msgId } : {}),
    ...(ids.fileId === undefined ? {} : { [ATTR_FILE_ID]: ids.fileId }),
    ...(ids.index === undefined ? {} : { [ATTR_CHUNK_INDEX]: ids.index }),
  };
  const parent = extractTraceContext(msg.headers);
  const span = tracer().startSpan(
    `${OPERATION_PROCESS} ${msg.subject}`,
    { kind: SpanKind.CONSUMER, attributes },
    parent,
  );
  const msgLog = Object.keys(ids).length > 0 ? log.child(ids) : log;
  try {
    return await context.with(trace.setSpan(parent, span), async () => {
      msgLog.debug(
        { subject: msg.subject, seq: msg.info.streamSequence, attempt: msg.info.deliveryCount },
        "stage start",
      );
      return await fn(msgLog);
    });
  } catch (err) {
    recordFailure(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** What a traced publish returns: JetStream's ack and the trace the message belongs to. */
export interface TracedAck {
  ack: PubAck;
  /** Undefined when this process does not trace. */
  traceId: string | undefined;
}

/**
 * Publishes to JetStream inside a PRODUCER span "publish <subject>", with that span's context in the
 * message headers. The span is a child of the active span, or with `span.root` the root of a new trace.
 */
export async function publishTraced(
  js: JetStreamClient,
  subject: string,
  data: Uint8Array,
  opts: Partial<JetStreamPublishOptions> = {},
  span: { root?: boolean; attributes?: Attributes } = {},
): Promise<TracedAck> {
  const attributes: Attributes = {
    ...span.attributes,
    [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_NATS,
    [ATTR_MESSAGING_DESTINATION_NAME]: subject,
    [ATTR_MESSAGING_OPERATION_TYPE]: OPERATION_TYPE_SEND,
    [ATTR_MESSAGING_OPERATION_NAME]: OPERATION_PUBLISH,
    [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: data.length,
    ...(opts.msgID ? { [ATTR_MESSAGING_MESSAGE_ID]: opts.msgID } : {}),
  };
  return withSpan(
    `${OPERATION_PUBLISH} ${subject}`,
    attributes,
    async (s) => {
      const ack = await js.publish(subject, data, { ...opts, headers: injectTraceHeaders(opts.headers) });
      if (ack.duplicate) s.setAttribute(ATTR_NATS_DUPLICATE, true);
      return { ack, traceId: activeTraceId() };
    },
    { kind: SpanKind.PRODUCER, root: span.root ?? false },
  );
}
