/**
 * The attribute and span names ferry's traces use, in one place. The OpenTelemetry messaging
 * conventions are still unstable, so their names are copied here rather than imported: a rename
 * upstream changes nothing until we choose to follow it.
 *
 * Messaging spans follow the conventions for NATS: `messaging.system` = "nats", the subject as
 * `messaging.destination.name`, span names "<operation> <destination>", PRODUCER spans for a
 * publish and CONSUMER spans for processing a message. The conventions prefer a link to the
 * message's creation context, and allow it as the parent when one message is processed on its
 * own, which is every ferry stage: so a file's trace is one tree, from the CLI's publish down to
 * each chunk's verify.
 */

// Resource
export const ATTR_SERVICE_NAME = "service.name";
export const ATTR_CLOUD_PROVIDER = "cloud.provider";

// Messaging
export const ATTR_MESSAGING_SYSTEM = "messaging.system";
export const MESSAGING_SYSTEM_NATS = "nats";
export const ATTR_MESSAGING_DESTINATION_NAME = "messaging.destination.name";
export const ATTR_MESSAGING_OPERATION_TYPE = "messaging.operation.type";
export const ATTR_MESSAGING_OPERATION_NAME = "messaging.operation.name";
/** `send` is what the conventions now call a publish; `publish` as a type is deprecated. */
export const OPERATION_TYPE_SEND = "send";
export const OPERATION_TYPE_PROCESS = "process";
export const OPERATION_PUBLISH = "publish";
export const OPERATION_PROCESS = "process";
export const ATTR_MESSAGING_CONSUMER_GROUP_NAME = "messaging.consumer.group.name";
/** The Nats-Msg-Id header (JetStream's dedup key). */
export const ATTR_MESSAGING_MESSAGE_ID = "messaging.message.id";
export const ATTR_MESSAGING_MESSAGE_BODY_SIZE = "messaging.message.body.size";
/**
 * How many times JetStream has delivered this message (1 on the first attempt). No generic name
 * exists yet; this mirrors `messaging.gcp_pubsub.message.delivery_attempt` under the system's namespace.
 */
export const ATTR_NATS_DELIVERY_COUNT = "messaging.nats.message.delivery_count";
export const ATTR_NATS_STREAM = "messaging.nats.stream";
export const ATTR_NATS_STREAM_SEQUENCE = "messaging.nats.stream.sequence";
/** Set on a publish JetStream dropped as a repeat inside the duplicate window. */
export const ATTR_NATS_DUPLICATE = "messaging.nats.duplicate";

// ferry
export const ATTR_FILE_ID = "ferry.file_id";
export const ATTR_CHUNK_INDEX = "ferry.chunk_index";
export const ATTR_CHUNK_SIZE = "ferry.chunk.size";
export const ATTR_STORE_KIND = "ferry.store.kind";
export const ATTR_STORE_BUCKET = "ferry.store.bucket";
export const ATTR_STORE_KEY = "ferry.store.key";
/** Bytes a store call wrote. */
export const ATTR_STORE_BYTES = "ferry.store.bytes";

// Span names that are not messaging operations
export const SPAN_INGEST_CHUNK = "ingest chunk";
export const SPAN_PLACE_REPLICA = "place replica";
export const storeSpanName = (op: "put" | "get" | "head" | "delete"): string => `store ${op}`;

/** The instrumentation scope every ferry span is created under. */
export const TRACER_NAME = "ferry";
