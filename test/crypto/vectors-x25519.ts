// Known-answer vectors for X25519, from RFC 7748 (https://www.rfc-editor.org/rfc/rfc7748.txt).

/** RFC 7748 5.2: X25519(scalar, u) = output. */
export interface X25519Vector {
  readonly scalar: string;
  readonly u: string;
  readonly output: string;
}

export const x25519Vectors: readonly X25519Vector[] = [
  {
    scalar: "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
    u: "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
    output: "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
  },
  {
    scalar: "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
    u: "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
    output: "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
  },
];

/**
 * RFC 7748 5.2, the iterated test: k = u = 9 (the base point); each iteration sets
 * k = X25519(k, u) and u = the old k. The result is k.
 */
export const x25519Iterated = {
  start: "0900000000000000000000000000000000000000000000000000000000000000",
  after1: "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
  after1000: "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
} as const;

/** RFC 7748 6.1: Diffie-Hellman on Curve25519. */
export const x25519Dh = {
  alicePrivate: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
  alicePublic: "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  bobPrivate: "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
  bobPublic: "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
  shared: "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
} as const;
