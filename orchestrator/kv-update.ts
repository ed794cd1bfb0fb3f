import type { KV } from "@nats-io/kv";
import { readJson } from "../shared/manifest.ts";

const MAX_CONFLICTS = 20;

/**
 * Read-modify-write of one JSON key with compare-and-set. `change` returns the new value, or
 * undefined to leave the key as it is. Returns the value now stored.
 */
export async function updateJson<T>(
  kv: KV,
  key: string,
  change: (current: T | undefined) => T | undefined,
): Promise<T | undefined> {
  for (let attempt = 1; ; attempt++) {
    const current = await readJson<T>(kv, key);
    const next = change(current ? structuredClone(current.value) : undefined);
    if (next === undefined) return current?.value;
    if (current && JSON.stringify(next) === JSON.stringify(current.value)) return next;
    try {
      if (current) await kv.update(key, JSON.stringify(next), current.revision);
      else await kv.create(key, JSON.stringify(next));
      return next;
    } catch (err) {
      // Someone wrote between our read and write (a second orchestrator during a restart): read again.
      if (attempt >= MAX_CONFLICTS) throw err;
    }
  }
}
