import { ConfigError } from "../errors.ts";
import { azblobKind } from "./azblob/kind.ts";
import { fsKind } from "./fs/kind.ts";
import { gcsKind } from "./gcs/kind.ts";
import { s3Kind } from "./s3/kind.ts";
import type { LocalStoreServer, StoreKindDescriptor } from "./store-kind.ts";

/**
 * Every kind of store ferry can use, in the order messages list them. Adding a kind is a folder
 * under shared/stores/ exporting its StoreKindDescriptor, and one entry here: the kind names, the
 * config and spec types below, config checks, deployment planning, local servers and the
 * conformance suite all follow from this list.
 */
export const STORE_KINDS = [s3Kind, gcsKind, azblobKind, fsKind] as const;

type AnyKind = (typeof STORE_KINDS)[number];

/** The store protocols a cloud can use: `"s3" | "gcs" | "azblob" | "fs"`. */
export type StoreKind = AnyKind["name"];

/** A cloud's store as configured in topology.json, checked; the union of every kind's config. */
export type StoreConfig = ReturnType<AnyKind["parseConfig"]>;

/** What it takes to open one cloud's store; the union of every kind's open spec. Never holds a secret. */
export type StoreOpenSpec = ReturnType<AnyKind["openSpec"]>;

/** The kinds that have a server ferry can run on loopback. */
export type LocalServerKind = Extract<AnyKind, { localServer: object }>["name"];

/**
 * A descriptor as code that handles every kind sees it: taking any kind's config and spec. Only
 * the functions below hand one out, each for the kind named by the value it is then given, so a
 * config or spec never reaches another kind's functions.
 */
type AnyDescriptor = StoreKindDescriptor<StoreKind, StoreConfig, StoreOpenSpec>;

const BY_NAME = new Map<string, AnyDescriptor>(
  STORE_KINDS.map((kind) => [kind.name, kind as unknown as AnyDescriptor]),
);

/** The descriptor named `kind`, or undefined for a name no kind has (from a config file, say). */
export function findStoreKind(kind: unknown): AnyDescriptor | undefined {
  return typeof kind === "string" ? BY_NAME.get(kind) : undefined;
}

/** The descriptor of the kind `value` (a config or an open spec) belongs to. */
export function storeKindOf(value: { kind: StoreKind; cloud?: string }): AnyDescriptor {
  const kind = findStoreKind(value.kind);
  // Unreachable for typed callers; guards values parsed from JSON at runtime.
  if (!kind) {
    const cloud = value.cloud === undefined ? "" : ` [cloud=${value.cloud}]`;
    throw new ConfigError(`store kind ${JSON.stringify(value.kind)} is not supported${cloud}`);
  }
  return kind;
}

/** The local server of `config`'s kind when `config` asks for one (`"local": true`), else undefined. */
export function localServerFor(
  config: StoreConfig,
): { kind: LocalServerKind; server: LocalStoreServer<StoreConfig> } | undefined {
  const server = storeKindOf(config).localServer;
  // Only kinds with a local server get here, so the kind is one of LocalServerKind.
  return server?.runsFor(config) ? { kind: config.kind as LocalServerKind, server } : undefined;
}

/** The local server of a kind that has one. */
export function localServerOf(kind: LocalServerKind): LocalStoreServer<StoreConfig> {
  const server = findStoreKind(kind)?.localServer;
  if (!server) throw new ConfigError(`store kind ${JSON.stringify(kind)} has no local server`);
  return server;
}

/** The kind whose stores read `<scheme>://` ingest sources, or undefined when no kind does. */
export function kindOfUrlScheme(scheme: string): AnyDescriptor | undefined {
  return [...BY_NAME.values()].find((kind) => kind.objectUrls?.scheme === scheme);
}

/** `s3://, gs://, az://`: the URL schemes ingest reads, for messages. */
export function urlSchemeList(): string {
  return [...BY_NAME.values()].flatMap((kind) => (kind.objectUrls ? [`${kind.objectUrls.scheme}://`] : [])).join(", ");
}

/** `"s3", "gcs", "azblob" or "fs"`: the kinds, for messages. */
export function storeKindList(): string {
  const names = STORE_KINDS.map((kind) => JSON.stringify(kind.name));
  return names.length === 1 ? (names[0] ?? "") : `${names.slice(0, -1).join(", ")} or ${names.at(-1)}`;
}
