/**
 * How a stream source is named: the key ferry files its state under, the id nats-server writes into
 * the `Nats-Stream-Source` header of every sourced message, and the one spelling of its domain.
 */
import { createHash } from "node:crypto";
import type { ExternalStream, StreamSource } from "@nats-io/jetstream";

/** What names a source: its stream and, for another domain or account, how to reach its API. */
export type SourceName = { name: string; external?: ExternalStream; domain?: string };

/** Identity of a source as the server sees it: its name and, for another domain or account, its API prefix. */
export function sourceKey(s: SourceName): string {
  const api = s.external?.api ?? (s.domain ? `$JS.${s.domain}.API` : "");
  return `${s.name}@${api}`;
}

/**
 * The first field of the `Nats-Stream-Source` header for this source: its name, plus `:<hash of the API
 * prefix>` for an external source (nats-server's `getHash`: 8 base-62 digits of its SHA-256).
 */
export function sourceHeaderId(s: SourceName): string {
  const api = normalizeSource(s as StreamSource).external?.api;
  return api ? `${s.name}:${serverHash(api)}` : s.name;
}

/** Parses `Nats-Stream-Source` into the source id and the source stream's sequence. */
export function parseSourceHeader(value: string): { id: string; seq: number } | undefined {
  const fields = value.trim().split(" ");
  if (fields.length < 2) return undefined;
  const seq = Number(fields[1]);
  if (!Number.isSafeInteger(seq) || seq < 1) return undefined;
  return { id: fields[0] as string, seq };
}

/** The source as the server stores it: `domain` spelled as the `external` API prefix it stands for. */
export function normalizeSource(s: StreamSource): StreamSource {
  if (s.domain === undefined) return s;
  const { domain, ...rest } = s;
  return domain === "" ? rest : { ...rest, external: { api: `$JS.${domain}.API` } };
}

/** How a report names a source: its stream and, when it is external, its API prefix. */
export function sourceIdent(s: StreamSource): { source: string; api?: string } {
  const api = normalizeSource(s).external?.api;
  return api ? { source: s.name, api } : { source: s.name };
}

function serverHash(s: string): string {
  const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const sum = createHash("sha256").update(s).digest();
  let out = "";
  for (let i = 0; i < 8; i++) out += digits[(sum[i] as number) % 62];
  return out;
}
