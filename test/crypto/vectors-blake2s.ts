// Known-answer vectors for BLAKE2s, HMAC-BLAKE2s and WireGuard's KDF.
// Sources:
//   RFC 7693 (https://www.rfc-editor.org/rfc/rfc7693.txt), Appendix B: BLAKE2s-256("abc"), and
//     Appendix E: the grand hash of blake2s_selftest() (the procedure is in kat.test.ts).
//   BLAKE2/BLAKE2 testvectors/blake2-kat.h (the same values as blake2s-kat.txt and
//     blake2-kat.json): blake2s_kat[] (unkeyed) and blake2s_keyed_kat[] with
//     key = 00 01 .. 1f and input = 00 01 .. (n - 1).
//   WireGuard/wireguard-go device/kdf_test.go (TestKDF): key and input are hex-decoded literals
//     (hex.DecodeString), t0..t2 are the KDF3 outputs; KDF2 must give t0, t1 and KDF1 t0.

/** RFC 7693 Appendix B: BLAKE2s-256("abc"). */
export const blake2sAbc = {
  input: "616263",
  digest: "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982",
} as const;

/** RFC 7693 Appendix E: blake2s_selftest() parameters and expected grand hash (blake2s_res). */
export const blake2sSelftest = {
  outLens: [16, 20, 28, 32],
  inLens: [0, 3, 64, 65, 255, 1024],
  grandHash: "6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe",
} as const;

/** One BLAKE2 KAT entry: input = 00 01 .. (inLen - 1), 32-byte digest. */
export interface Blake2sKatVector {
  readonly inLen: number;
  readonly digest: string;
}

/** The key of the keyed BLAKE2 KATs: 00 01 .. 1f. */
export const blake2sKatKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/** blake2-kat.h blake2s_kat[n]: unkeyed BLAKE2s-256. */
export const blake2sUnkeyedKat: readonly Blake2sKatVector[] = [
  { inLen: 0, digest: "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9" },
  { inLen: 1, digest: "e34d74dbaf4ff4c6abd871cc220451d2ea2648846c7757fbaac82fe51ad64bea" },
  { inLen: 2, digest: "ddad9ab15dac4549ba42f49d262496bef6c0bae1dd342a8808f8ea267c6e210c" },
];

/** blake2-kat.h blake2s_keyed_kat[n]: BLAKE2s-256 keyed with blake2sKatKey. */
export const blake2sKeyedKat: readonly Blake2sKatVector[] = [
  { inLen: 0, digest: "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49" },
  { inLen: 1, digest: "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1" },
  { inLen: 2, digest: "6bb71300644cd3991b26ccd4d274acd1adeab8b1d7914546c1198bbe9fc9d803" },
  { inLen: 63, digest: "c65382513f07460da39833cb666c5ed82e61b9e998f4b0c4287cee56c3cc9bcd" },
  { inLen: 64, digest: "8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4" },
  { inLen: 65, digest: "21fe0ceb0052be7fb0f004187cacd7de67fa6eb0938d927677f2398c132317a8" },
  { inLen: 255, digest: "3fb735061abc519dfe979e54c1ee5bfad0a9d858b3315bad34bde999efd724dd" },
];

/** wireguard-go device/kdf_test.go: KDF3(key, input) = (t0, t1, t2). */
export interface KdfVector {
  readonly key: string;
  readonly input: string;
  readonly t0: string;
  readonly t1: string;
  readonly t2: string;
}

export const kdfVectors: readonly KdfVector[] = [
  {
    key: "746573742d6b6579", // "test-key"
    input: "746573742d696e707574", // "test-input"
    t0: "6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633",
    t1: "df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a",
    t2: "fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24",
  },
  {
    key: "776972656775617264", // "wireguard"
    input: "776972656775617264", // "wireguard"
    t0: "491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8",
    t1: "1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f",
    t2: "31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160",
  },
  {
    key: "",
    input: "",
    t0: "8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0",
    t1: "58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e",
    t2: "0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e",
  },
];
