/**
 * The background scrub's settings: how often every replica is read back and checked, and how fast.
 * `scrubEvery` ("7d" by default, "off" for never) is the time from one pass's start to the next;
 * `scrubRate` ("20MB/s" by default) bounds the bytes a pass asks the clouds to read per second.
 */
import { ConfigError } from "../errors.ts";
import { parseDuration, parseRate } from "../units.ts";

export interface ScrubConfig {
  /** Time between the starts of two background passes; 0 when the background scrub is off. */
  scrubEveryMs: number;
  scrubRateBytesPerSec: number;
}

export function compileScrub(r: Record<string, unknown>): ScrubConfig {
  const every = r.scrubEvery ?? "7d";
  const scrubEveryMs = every === "off" ? 0 : parseDuration("scrubEvery", every);
  if (every !== "off" && scrubEveryMs < 1000)
    throw new ConfigError(`scrubEvery: ${JSON.stringify(every)} is shorter than a second (use "off" to turn it off)`);
  return { scrubEveryMs, scrubRateBytesPerSec: parseRate("scrubRate", r.scrubRate ?? "20MB/s") };
}
