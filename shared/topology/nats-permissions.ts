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
import { STAGE_CHAIN, type Stage, takesIngestRequests } from "../stages.ts";
import {
  collectConsumerName,
  DEPLOYMENT_BUCKET,
  EVENTS_STREAM,
  FILES_STREAM,
  LEADER_BUCKET,
  MANIFEST_BUCKET,
  ORCHESTRATOR_CONSUMER,
  stageSource,
} from "../stream-names.ts";
import {
  ALL_COLLECT,
  ALL_INGEST_REQUESTS,
  chunkSubject,
  deadLetterSubject,
  FILES_COMPLETED,
  fileSubject,
  objectUrlSubject,
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
 * The leaf link of `cloud`, as the hub checks it. Measured with nats-server 2.14: a subject denied
 * under either `publish` or `subscribe` of a leaf connection stops that subject on the link in both
 * directions (the hub no longer tells the leaf of its interest), so both lists carry the same
 * denials. The leaf server itself sources the hub's EVENTS and is sourced by it through internal
 * subjects that cannot be told apart by cloud, and gateway requests and their replies cross every
 * link by design, so the rule allows all but: any other cloud's events, ingest requests, staging
 * collections and completions (these only ever travel inside JetStream), manifest writes and
 * stream or consumer management on the hub.
 */
function leafRules(t: Topology, cloud: string): IdentityPermissions {
  const others = t.clouds.map((c) => c.name).filter((c) => c !== cloud);
  const otherEvents = others.flatMap((o) => [`chunks.*.${o}`, `files.*.${o}`, `deadletter.*.${o}`]);
  const hubAdmin = ["STREAM.DELETE.>", "STREAM.PURGE.>", "STREAM.UPDATE.>", "STREAM.CREATE.>", "CONSUMER.DELETE.>"];
  const link: SubjectRules = {
    allow: [">"],
    deny: [
      ...otherEvents,
      ...ALL_INGEST_REQUESTS,
      ALL_COLLECT,
      FILES_COMPLETED,
      "$KV.>",
      ...hubAdmin.flatMap((op) => onHub(t, (d) => [jsApi(d, op)])),
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

/** The orchestrator: its EVENTS consumer, the manifest and the lease, collections, completions, the source watchdog. */
function orchestratorRules(t: Topology): IdentityPermissions {
  return {
    identity: id.ORCHESTRATOR_IDENTITY,
    purpose: "projects events into the manifest, completes files",
    publish: {
      allow: [
        ...onHub(t, (d) => [
          ...pull(d, EVENTS_STREAM, ORCHESTRATOR_CONSUMER),
          ...kvWrite(d, MANIFEST_BUCKET),
          ...kvWrite(d, LEADER_BUCKET),
          jsApi(d, `STREAM.INFO.${EVENTS_STREAM}`),
          jsApi(d, `STREAM.UPDATE.${EVENTS_STREAM}`),
          jsApi(d, `STREAM.MSG.GET.${EVENTS_STREAM}`),
        ]),
        ...t.clouds.map((c) => jsApi(c.name, "STREAM.INFO.>")),
        ALL_COLLECT,
        FILES_COMPLETED,
        ...t.clouds.map((c) => deadLetterSubject("orchestrator", c.name)),
      ],
    },
    subscribe: { allow: [`${identityInbox(id.ORCHESTRATOR_IDENTITY)}.>`, ...WORKER_REQUESTS] },
    allowResponses: true,
  };
}

/** The CLI: ingest requests, reading the manifest, the events and the deployment, pings, object URLs. */
function cliRules(t: Topology): IdentityPermissions {
  return {
    identity: id.CLI_IDENTITY,
    purpose: "ferry ingest, status, get, cat, report, dead-letters",
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
      ],
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
      purpose: "the operator's: declares streams, consumers and buckets (ferry up), drills and tests",
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
