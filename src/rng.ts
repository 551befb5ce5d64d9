/**
 * Seeded pseudo-random numbers, so that runs with the same seed reproduce.
 * @module
 */

/** A seeded generator of uniform numbers in [0, 1) (mulberry32). */
export class Rng {
  #state: number;

  /** Creates a generator; the same seed gives the same sequence. */
  constructor(seed: number) {
    this.#state = (seed >>> 0) ^ 0x9e3779b9;
  }

  /** Next uniform number in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal sample (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** A seed for a child generator, so sub-steps get independent but reproducible streams. */
  fork(): number {
    return Math.floor(this.next() * 2 ** 32);
  }
}

/**
 * `seed` as a seed for tfjs's normal-distribution ops (randomNormal, truncatedNormal), which take 0 as "no
 * seed" and draw from Math.random: 0 becomes 0.5, every other value stays.
 */
export function tfSeed(seed: number): number {
  return seed === 0 ? 0.5 : seed;
}
