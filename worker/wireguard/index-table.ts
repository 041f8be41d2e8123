// The table of local session indices (wireguard-go's device/indextable.go). Every handshake
// and keypair we take part in is named by a 32-bit index we choose; the peer puts it in the
// receiver field of each message it sends us, and this table turns it back into our state.
// Indices are random rather than sequential so they reveal nothing (how many sessions, which
// came first) and cannot be guessed to aim forged messages at a live session.

/** Returns a uniformly random u32 (0 to 2^32 - 1). */
export type RandomU32 = () => number;

/** Attempts at finding a free index before assuming the random source is broken. */
const MAX_ALLOCATE_ATTEMPTS = 1000;

/** The platform's CSPRNG, through a reused word so allocation itself allocates nothing. */
function cryptoRandomU32(): RandomU32 {
  const word = new Uint32Array(1);
  return () => {
    globalThis.crypto.getRandomValues(word);
    return word[0]!;
  };
}

/**
 * Maps random non-zero 32-bit local indices to values (a handshake, then its keypair).
 * Index 0 is never handed out, so callers may use 0 to mean "no index". Indices are unsigned
 * numbers, as DataView.getUint32 reads them from a message.
 */
export class IndexTable<T> {
  private readonly table = new Map<number, T>();
  private readonly random: RandomU32;

  /**
   * `random` supplies candidate indices; it defaults to globalThis.crypto.getRandomValues and
   * exists so tests can force collisions. Anything else must be a CSPRNG too.
   */
  constructor(random?: RandomU32) {
    this.random = random ?? cryptoRandomU32();
  }

  /** How many indices are in use. */
  get size(): number {
    return this.table.size;
  }

  /**
   * Stores `value` under a fresh random index and returns the index. Draws again on a
   * collision or a zero; throws an Error if the random source keeps failing (a broken RNG,
   * since with a real one even a full table collides with probability under 2^-8 per draw).
   */
  allocate(value: T): number {
    for (let attempt = 0; attempt < MAX_ALLOCATE_ATTEMPTS; attempt++) {
      const index = this.random() >>> 0;
      if (index === 0 || this.table.has(index)) continue;
      this.table.set(index, value);
      return index;
    }
    throw new Error("IndexTable: no free index found; is the random source broken?");
  }

  /** The value stored under `index`, or undefined. The per-packet lookup. */
  get(index: number): T | undefined {
    return this.table.get(index);
  }

  /**
   * Replaces the value under an index already in use, keeping the index (wireguard-go's
   * SwapIndexForKeypair: a completed handshake's index goes on naming its keypair). Returns
   * false, storing nothing, if the index is not in use, so a session deleted meanwhile is not
   * brought back.
   */
  replace(index: number, value: T): boolean {
    if (!this.table.has(index)) return false;
    this.table.set(index, value);
    return true;
  }

  /** Frees `index`; true if it was in use. */
  delete(index: number): boolean {
    return this.table.delete(index);
  }

  /** Frees every index (device teardown). */
  clear(): void {
    this.table.clear();
  }
}
