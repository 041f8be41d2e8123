// The path probes' magic (probe.ts has the codec): alone, so that what only needs to tell a
// probe from other datagrams (the page's channel pump, which passes probes past its buffer
// bound) does not load the codec's BLAKE2s and address parsing.

/** The first four bytes of every probe ("CPRB"). */
export const PROBE_MAGIC = new Uint8Array([0x43, 0x50, 0x52, 0x42]);

/** True when `bytes` starts with the probe magic (a cheap demultiplexing test). */
export function isProbe(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 &&
    bytes[0] === PROBE_MAGIC[0] &&
    bytes[1] === PROBE_MAGIC[1] &&
    bytes[2] === PROBE_MAGIC[2] &&
    bytes[3] === PROBE_MAGIC[3]
  );
}
