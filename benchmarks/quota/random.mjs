// Seeded randomness, so that a seed gives the same arrivals, prompts and completion lengths on every run.

/** mulberry32: a small 32-bit generator; returns a function giving uniform numbers in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [min, max]. */
export const uniformInt = (random, min, max) => min + Math.floor(random() * (max - min + 1));

/** An exponentially distributed gap with the given mean (the gaps of a Poisson process). */
export const exponential = (random, mean) => -Math.log(1 - random()) * mean;
