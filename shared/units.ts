import { ConfigError } from "./errors.ts";

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `8MiB`, `512KiB`, `1GB` or a plain number of bytes. `key` names the setting in errors. */
export function parseSize(key: string, value: unknown): number {
  return parseWithUnits(key, value, SIZE_UNITS, "a size such as 8MiB or 1048576");
}

/** Parses `30s`, `500ms`, `7d` or a plain number of milliseconds. */
export function parseDuration(key: string, value: unknown): number {
  return parseWithUnits(key, value, DURATION_UNITS, "a duration such as 30s, 500ms or 7d");
}

/** Parses a rate in bytes per second: `20MB/s`, `4MiB/s` (or a size, read as per second). */
export function parseRate(key: string, value: unknown): number {
  const perSecond = typeof value === "string" ? value.replace(/\/s\s*$/i, "") : value;
  const bytes = parseWithUnits(key, perSecond, SIZE_UNITS, "a rate such as 20MB/s or 4MiB/s");
  if (bytes < 1) throw new ConfigError(`${key}: ${JSON.stringify(value)} must be at least 1 byte per second`);
  return bytes;
}

function parseWithUnits(key: string, value: unknown, units: Record<string, number>, expected: string): number {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return Math.floor(value);
  if (typeof value === "string") {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
    const unit = m?.[2] ? units[m[2].toLowerCase()] : 1;
    if (m?.[1] && unit !== undefined) return Math.floor(Number(m[1]) * unit);
  }
  throw new ConfigError(`${key}: ${JSON.stringify(value)} is not ${expected}`);
}

/** `1536` -> `1.5 KiB`, for people. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
