import type { KV } from "@nats-io/kv";
import type { Lease } from "./lease.ts";

/** The KV calls that write. */
const WRITES = new Set<PropertyKey>(["create", "update", "put", "delete", "purge"]);

/**
 * The manifest as the active orchestrator sees it: every write first checks that this process still
 * holds the lease, so an orchestrator that was frozen and thawed after a takeover writes nothing.
 * (Each manifest write is also compare-and-set on its key's revision, so a write computed from a value
 * the new orchestrator has since changed fails as well.)
 */
export function fencedKv(kv: KV, lease: Lease, onRefused?: (what: string) => void): KV {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      if (!WRITES.has(prop)) return value.bind(target);
      return (key: string, ...rest: unknown[]) => {
        const what = `manifest ${String(prop)} of ${key}`;
        try {
          lease.assertHeld(what);
        } catch (err) {
          onRefused?.(what);
          throw err;
        }
        return value.call(target, key, ...rest);
      };
    },
  });
}
