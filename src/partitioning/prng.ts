// A small seeded pseudo-random generator (SplitMix32) so every "random" choice in the core replays exactly.

/** Seeded source of randomness the core takes instead of Math.random. */
export interface Random {
  /** Uniform 32-bit unsigned integer. */
  nextU32(): number;
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  nextInt(n: number): number;
}

/** SplitMix32: passes BigCrush-level tests for our purposes, is tiny, and its state is one integer. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const nextU32 = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  };
  return {
    nextU32,
    next: () => nextU32() / 0x1_0000_0000,
    nextInt: (n: number) => Math.floor((nextU32() / 0x1_0000_0000) * n),
  };
}

/** In-place Fisher-Yates shuffle driven by a seeded generator. */
export function shuffleInPlace<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.nextInt(i + 1);
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t;
  }
  return items;
}
