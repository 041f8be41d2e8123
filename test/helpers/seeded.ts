// A small seeded PRNG (splitmix32) for tests, fuzzers and benchmarks: the same inputs on
// every run, so a failure names a seed that reproduces it. Runs in Node and in a browser.

/** A stream of pseudo-random 32-bit words from `seed`. */
export function seededWords(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  };
}

/** A function returning `n` pseudo-random bytes per call, from `seed`. */
export function seededBytes(seed: number): (n: number) => Uint8Array {
  const next = seededWords(seed);
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const w = next();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (w >>> (8 * j)) & 0xff;
    }
    return out;
  };
}

/** A function returning pseudo-random integers in [0, bound), from `seed`. */
export function seededInts(seed: number): (bound: number) => number {
  const next = seededWords(seed);
  return (bound) => next() % bound;
}
