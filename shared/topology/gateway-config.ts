import { ConfigError } from "../errors.ts";
import { parseDuration } from "../units.ts";

/** A cloud's gateway (see gateway/): where its HTTP face for an `fs` store listens, and how long its URLs live. */
export interface GatewaySpec {
  /** Address of the HTTP face that serves an `fs` store's objects. @default 127.0.0.1, a free port */
  listen: { host: string; port: number };
  /**
   * The face's base URL as other hosts reach it (through a proxy or a public address).
   * @default http://<listen host>:<the port it got>
   */
  publicUrl?: string;
  /** How long a URL it issues stays good. @default 15m */
  urlExpiryMs: number;
}

/** What a cloud's gateway uses when `clouds[].gateway` is absent. */
export const DEFAULT_GATEWAY: GatewaySpec = { listen: { host: "127.0.0.1", port: 0 }, urlExpiryMs: 15 * 60_000 };

const MAX_EXPIRY_MS = 7 * 24 * 3600_000;

/** Checks `clouds[i].gateway`: `{"listen": "127.0.0.1:7480", "publicUrl": "http://...", "urlExpiry": "15m"}`, each optional. */
export function compileGateway(key: string, raw: Record<string, unknown>): GatewaySpec {
  for (const field of Object.keys(raw)) {
    if (!["listen", "publicUrl", "urlExpiry"].includes(field))
      throw new ConfigError(`${key}.${field}: unknown key (expected listen, publicUrl or urlExpiry)`);
  }
  const listen = raw.listen === undefined ? DEFAULT_GATEWAY.listen : parseListen(`${key}.listen`, raw.listen);
  const urlExpiryMs =
    raw.urlExpiry === undefined ? DEFAULT_GATEWAY.urlExpiryMs : parseDuration(`${key}.urlExpiry`, raw.urlExpiry);
  if (urlExpiryMs < 1000 || urlExpiryMs > MAX_EXPIRY_MS)
    throw new ConfigError(`${key}.urlExpiry: must be from 1s to 7d (S3 and GCS sign for at most 7 days)`);
  if (raw.publicUrl !== undefined && !(typeof raw.publicUrl === "string" && /^https?:\/\//.test(raw.publicUrl)))
    throw new ConfigError(`${key}.publicUrl: expected an http(s) URL such as "http://10.0.0.5:7480"`);
  return { listen, urlExpiryMs, ...(raw.publicUrl === undefined ? {} : { publicUrl: raw.publicUrl as string }) };
}

function parseListen(key: string, raw: unknown): GatewaySpec["listen"] {
  const m = typeof raw === "string" ? /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw) : null;
  const port = Number(m?.[2]);
  if (!m?.[1] || !(port >= 0 && port <= 65535))
    throw new ConfigError(
      `${key}: ${JSON.stringify(raw)} is not "<host>:<port>" such as "127.0.0.1:7480" (port 0: any free one)`,
    );
  return { host: m[1], port };
}
