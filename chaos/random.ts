/** Seeded randomness for the drills: the same seed makes the same choices, so a failing run can be replayed. */

/** mulberry32: a tiny 32-bit PRNG giving floats in [0, 1). Not for anything but test choices. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fresh seed for a run that was not given one (printed, so it can be given next time). */
export const randomSeed = (): number => Math.floor(Math.random() * 2 ** 31);

/** `k` distinct items of `items`, in a random order (partial Fisher-Yates). */
export function sample<T>(rand: () => number, items: readonly T[], k: number): T[] {
  const pool = [...items];
  const n = Math.min(k, pool.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rand() * (pool.length - i));
    const picked = pool[j] as T;
    pool[j] = pool[i] as T;
    pool[i] = picked;
  }
  return pool.slice(0, n);
}
