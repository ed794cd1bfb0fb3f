/**
 * What each NATS identity may publish and subscribe to, declared once and derived from the stage
 * chain, the subjects and the stream names. The server configs (nats-auth-config.ts) and the README's
 * permission table (permission-table.ts) are both rendered from `natsPermissions`.
 *
 * JetStream API subjects: `$JS.API.<op>` on the server the client is connected to, `$JS.<domain>.API.<op>`
 * in another domain (a worker reaching the hub's FILES stream through its leaf, or its own leaf's streams,
 * which workers address by their cloud's domain). Every identity's replies arrive on its own inbox
 * prefix `_INBOX_<identity>` (shared/nats/identity.ts), so no identity reads another's replies.
 */
import { identityInbox } from "../nats/identity.ts";
import { STAGE_CHAIN, type Stage, takesIngestRequests, takesOf } from "../stages.ts";
import {
  collectConsumerName,
  DEPLOYMENT_BUCKET,
  EVENTS_STREAM,
  FILES_STREAM,
  LEADER_BUCKET,
  MANIFEST_BUCKET,
  ORCHESTRATOR_CONSUMER,
  stageSource,
  workStream,
} from "../stream-names.ts";
import {
  ALL_COLLECT,
  ALL_INGEST_REQUESTS,
  chunkSubject,
  cloudStreamSubjects,
  deadLetterSubject,
  FILES_COMPLETED,
  fileSubject,
  objectUrlSubject,
  replayedSubject,
  SCRUB_REQUESTS,
  sourcedEventsPrefix,
  sourcedWorkPrefix,
  WORKER_METRICS,
  WORKER_PING,
} from "../subjects.ts";
import type { Topology } from "./config.ts";
import * as id from "./nats-identities.ts";

export interface SubjectRules {
  allow: string[];
  deny?: string[];
}

export interface IdentityPermissions {
  identity: string;
  /** One line for the README: what the identity is for. */
  purpose: string;
  publish: SubjectRules;
  subscribe: SubjectRules;
  /** May answer requests it received (a reply subject it was handed), whatever `publish` says. */
  allowResponses: boolean;
}

/** A JetStream API subject: local (`$JS.API.<op>`) or in `domain`. */
export const jsApi = (domain: string | undefined, op: string): string =>
  domain ? `$JS.${domain}.API.${op}` : `$JS.API.${op}`;

/** Pulling from one durable consumer and acknowledging its messages. */
function pull(domain: string | undefined, stream: string, consumer: string): string[] {
  return [
    jsApi(domain, `CONSUMER.MSG.NEXT.${stream}.${consumer}`),
    jsApi(domain, `CONSUMER.INFO.${stream}.${consumer}`),
    `$JS.ACK.${stream}.${consumer}.>`,
  ];
}

/** Reading keys of a KV bucket (info, direct gets, listing and watching through ordered consumers). */
function kvRead(domain: string | undefined, bucket: string): string[] {
  const s = `KV_${bucket}`;
  return [
    jsApi(domain, `STREAM.INFO.${s}`),
    jsApi(domain, `DIRECT.GET.${s}.>`),
    jsApi(domain, `DIRECT.GET.${s}`),
    jsApi(domain, `STREAM.MSG.GET.${s}`),
    ...orderedRead(domain, s),
  ];
}

/** Reading a stream through ephemeral ordered consumers (created, pulled, deleted by the client). */
function orderedRead(domain: string | undefined, stream: string): string[] {
  return [
    jsApi(domain, `CONSUMER.CREATE.${stream}.>`),
    jsApi(domain, `CONSUMER.CREATE.${stream}`),
    jsApi(domain, `CONSUMER.MSG.NEXT.${stream}.>`),
    jsApi(domain, `CONSUMER.DELETE.${stream}.>`),
    jsApi(domain, `CONSUMER.INFO.${stream}.>`),
  ];
}

/** Writing keys of a KV bucket (puts, compare-and-set, deletes), with reading it. */
function kvWrite(domain: string | undefined, bucket: string): string[] {
  return [`$KV.${bucket}.>`, ...kvRead(domain, bucket)];
}

/** Both forms of a hub API subject for a client on the hub: with and without the hub's domain. */
function onHub(t: Topology, make: (domain: string | undefined) => string[]): string[] {
  return [...make(undefined), ...make(t.hubDomain)];
}

const WORKER_REQUESTS = [WORKER_PING, WORKER_METRICS];

function stageRules(t: Topology, stage: Stage, cloud: string): IdentityPermissions {
  const row = STAGE_CHAIN.find((r) => r.stage === stage);
  if (!row) throw new Error(`no stage "${stage}"`);
  const source = stageSource(stage, cloud);
  // A leaf maps its own domain's API subjects onto the local ones before checking permissions.
  const pulls = source.onHub
    ? pull(t.hubDomain, source.stream, source.consumer)
    : [...pull(cloud, source.stream, source.consumer), ...pull(undefined, source.stream, source.consumer)];
  const ingest = takesIngestRequests(stage);
  const publish = [
    chunkSubject(row.emits, cloud),
    deadLetterSubject(stage, cloud),
    ...pulls,
    ...kvRead(t.hubDomain, MANIFEST_BUCKET),
    ...(ingest
      ? [
          fileSubject("accepted", cloud),
          fileSubject("ingested", cloud),
          ...pull(t.hubDomain, FILES_STREAM, collectConsumerName(cloud)),
        ]
      : []),
    // Verify hands a bad replica back to place as the event place takes.
    ...(stage === "verify" ? [chunkSubject("processed", cloud)] : []),
    // Place fetches a chunk staged in another cloud through that cloud's gateway.
    ...(stage === "place" ? [objectUrlSubject("*")] : []),
  ];
  return {
    identity: id.stageIdentity(stage, cloud),
    purpose: `${stage} workers in ${cloud}`,
    publish: { allow: publish },
    subscribe: { allow: [`${identityInbox(id.stageIdentity(stage, cloud))}.>`, ...WORKER_REQUESTS] },
    allowResponses: true,
  };
}

function cloudRules(t: Topology, cloud: string): IdentityPermissions[] {
  const stages = STAGE_CHAIN.map((r) => stageRules(t, r.stage, cloud));
  const gateway: IdentityPermissions = {
    identity: id.gatewayIdentity(cloud),
    purpose: `issues URLs for objects in ${cloud}'s store`,
    publish: { allow: [] },
    subscribe: {
      allow: [objectUrlSubject(cloud), `${identityInbox(id.gatewayIdentity(cloud))}.>`, ...WORKER_REQUESTS],
    },
    allowResponses: true,
  };
  return [...stages, gateway, leafRules(t, cloud)];
}

/**
 * The leaf link of `cloud`, as the hub checks it: an allow list, the same both ways (measured with
 * nats-server 2.14: a subject left out of either `publish` or `subscribe` of a leaf connection stops
 * it on the link in both directions). It carries:
 * - the link's own sourcing: the hub's EVENTS sourcing this cloud's stream and this cloud's WORK
 *   sourcing the hub's EVENTS, delivered under prefixes that name this cloud (shared/subjects.ts),
 *   with the servers' consumer-create replies (`$JSC.R`) and flow control (`$JS.FC`);
 * - the hub's JetStream API calls of this cloud's workers (their FILES consumers, the manifest) and
 *   everything the hub side asks of this cloud's own domain (`$JS.<cloud>.API`);
 * - this cloud's own event subjects (the orchestrator's dead letters for it travel hub to leaf);
 * - worker pings and metrics, object-URL requests to and from gateways, and the replies to all of
 *   these, on the inboxes of this cloud's identities and of the hub identities that ask it things.
 * So a leaf cannot publish or read another cloud's events, pull or acknowledge another cloud's
 * FILES consumers or the orchestrator's, write the manifest, or manage streams on the hub.
 */
function leafRules(t: Topology, cloud: string): IdentityPermissions {
  const hubApi = jsApi(t.hubDomain, "");
  const ownIdentities = [...STAGE_CHAIN.map((r) => id.stageIdentity(r.stage, cloud)), id.gatewayIdentity(cloud)];
  // Both spellings of the hub's API: the hub may map its own domain's onto the local one before checking.
  const workersOnHub = STAGE_CHAIN.flatMap((r) => stageRules(t, r.stage, cloud).publish.allow).flatMap((s) =>
    s.startsWith(hubApi)
      ? [s, jsApi(undefined, s.slice(hubApi.length))]
      : s.startsWith(`$JS.ACK.${FILES_STREAM}.`)
        ? [s]
        : [],
  );
  const urlAskers = [id.CLI_IDENTITY, ...t.clouds.map((c) => id.stageIdentity("place", c.name))];
  const hubAskers = [id.ORCHESTRATOR_IDENTITY, id.DASHBOARD_IDENTITY, id.CLI_IDENTITY, id.ADMIN_IDENTITY];
  const inboxes = [...new Set([...ownIdentities, ...urlAskers, ...hubAskers, id.SUPERVISOR_IDENTITY])];
  const link: SubjectRules = {
    allow: [
      `${sourcedEventsPrefix(cloud)}.>`,
      `${sourcedWorkPrefix(cloud)}.>`,
      ...onHub(t, (d) => [
        jsApi(d, `CONSUMER.CREATE.${EVENTS_STREAM}`),
        ...everyCloudKinds().map((k) => jsApi(d, `CONSUMER.CREATE.${EVENTS_STREAM}.*.${chunkSubject(k, "*")}`)),
      ]),
      "$JSC.R.*",
      "$JS.FC.>",
      ...new Set(workersOnHub),
      jsApi(cloud, ">"),
      ...cloudStreamSubjects(cloud),
      ...WORKER_REQUESTS,
      objectUrlSubject("*"),
      ...inboxes.map((i) => `${identityInbox(i)}.>`),
    ],
  };
  return {
    identity: id.leafIdentity(cloud),
    purpose: `${cloud}'s leaf server's link to the hub`,
    publish: link,
    subscribe: link,
    allowResponses: false,
  };
}

/** The chunk event kinds a stage takes from every cloud (place: `chunks.processed`), which WORK streams source from the hub. */
const everyCloudKinds = () => STAGE_CHAIN.flatMap((r) => (r.from === "every" ? [r.consumes] : []));

/** The orchestrator: its EVENTS consumer, the manifest and the lease, collections, completions, the source watchdog. */
function orchestratorRules(t: Topology): IdentityPermissions {
  return {
    identity: id.ORCHESTRATOR_IDENTITY,
    purpose:
      "projects events into the manifest (replays too), completes files, hands overdue replicas to other clouds, runs scrubs",
    publish: {
      allow: [
        ...onHub(t, (d) => [
          ...pull(d, EVENTS_STREAM, ORCHESTRATOR_CONSUMER),
          ...kvWrite(d, MANIFEST_BUCKET),
          ...kvWrite(d, LEADER_BUCKET),
          jsApi(d, `STREAM.INFO.${EVENTS_STREAM}`),
          jsApi(d, `STREAM.UPDATE.${EVENTS_STREAM}`),
          jsApi(d, `STREAM.MSG.GET.${EVENTS_STREAM}`),
          // The consumer audit resets a FILES consumer that holds requests it will never redeliver.
          jsApi(d, `CONSUMER.INFO.${FILES_STREAM}.*`),
          jsApi(d, `CONSUMER.RESET.${FILES_STREAM}.*`),
        ]),
        ...t.clouds.map((c) => jsApi(c.name, "STREAM.INFO.>")),
        // The source watchdog of each cloud's WORK stream, reached through its leaf link.
        ...t.clouds.flatMap((c) => [
          jsApi(c.name, `STREAM.UPDATE.${workStream(c.name)}`),
          jsApi(c.name, `STREAM.MSG.GET.${workStream(c.name)}`),
        ]),
        ALL_COLLECT,
        FILES_COMPLETED,
        ...t.clouds.map((c) => deadLetterSubject("orchestrator", c.name)),
        // Placement failover hands a chunk to another cloud's place workers (orchestrator/placement-watch.ts).
        ...t.clouds.map((c) => chunkSubject(takesOf("place"), c.name)),
      ],
    },
    subscribe: { allow: [`${identityInbox(id.ORCHESTRATOR_IDENTITY)}.>`, ...WORKER_REQUESTS, SCRUB_REQUESTS] },
    allowResponses: true,
  };
}

/** The CLI: ingest requests, reading the manifest, the events and the deployment, pings, object URLs. */
function cliRules(t: Topology): IdentityPermissions {
  return {
    identity: id.CLI_IDENTITY,
    purpose: "ferry ingest, status, get, cat, report, dead-letters, scrub",
    publish: {
      allow: [
        ...ALL_INGEST_REQUESTS,
        ...onHub(t, (d) => [
          ...kvRead(d, MANIFEST_BUCKET),
          ...kvRead(d, DEPLOYMENT_BUCKET),
          ...orderedRead(d, EVENTS_STREAM),
          jsApi(d, "STREAM.INFO.>"),
          jsApi(d, "CONSUMER.INFO.>"),
          jsApi(d, "INFO"),
        ]),
        // Whether each leaf is linked: its JetStream domain answers through the hub only while it is.
        ...t.clouds.map((c) => jsApi(c.name, "INFO")),
        ...WORKER_REQUESTS,
        objectUrlSubject("*"),
        // `ferry scrub`, and `get` asking for a bad replica it met to be written again.
        SCRUB_REQUESTS,
      ],
      // Named, though no allow covers it: replaying dead letters is the admin identity's alone.
      deny: [replayedSubject("*")],
    },
    subscribe: { allow: [`${identityInbox(id.CLI_IDENTITY)}.>`] },
    allowResponses: false,
  };
}

function hubRules(t: Topology): IdentityPermissions[] {
  const inbox = (name: string): string => `${identityInbox(name)}.>`;
  return [
    orchestratorRules(t),
    {
      identity: id.DASHBOARD_IDENTITY,
      purpose: "reads the manifest and events, asks workers for metrics",
      publish: {
        allow: [
          ...onHub(t, (d) => [
            ...kvRead(d, MANIFEST_BUCKET),
            ...orderedRead(d, EVENTS_STREAM),
            jsApi(d, `STREAM.INFO.${EVENTS_STREAM}`),
            jsApi(d, "CONSUMER.INFO.>"),
          ]),
          jsApi(undefined, "STREAM.INFO.>"),
          ...WORKER_REQUESTS,
        ],
      },
      subscribe: { allow: [inbox(id.DASHBOARD_IDENTITY)] },
      allowResponses: false,
    },
    cliRules(t),
    {
      identity: id.ADMIN_IDENTITY,
      // The only hub identity that may publish a replay event (files.replayed.<cloud>): `ferry dead-letters
      // replay` runs as admin. It reaches the orchestrator through its cloud's stream and EVENTS.
      purpose:
        "the operator's: declares streams, consumers and buckets (ferry up), replays dead letters (`files.replayed.<cloud>`), drills and tests",
      publish: { allow: [">"] },
      subscribe: { allow: [">"] },
      allowResponses: false,
    },
    {
      identity: id.SUPERVISOR_IDENTITY,
      purpose: "ferry up's readiness pings",
      publish: { allow: [WORKER_PING] },
      subscribe: { allow: [inbox(id.SUPERVISOR_IDENTITY)] },
      allowResponses: false,
    },
  ];
}

/** Every identity's permissions, hub identities first, then each cloud's. */
export function natsPermissions(t: Topology): IdentityPermissions[] {
  return [...hubRules(t), ...t.clouds.flatMap((c) => cloudRules(t, c.name))];
}
