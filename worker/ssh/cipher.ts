// The interface every SSH packet cipher implements (one direction of a connection), so the
// binary packet protocol (packet.ts) frames and checks packets the same way for all of them.
//
// Three shapes exist in practice:
//   - AEAD with the length as associated data: chacha20-poly1305@openssh.com (length
//     encrypted with its own key), aes*-gcm@openssh.com (length in clear);
//   - encrypt-then-MAC (*-etm@openssh.com): length in clear, MAC over the ciphertext;
//   - encrypt-and-MAC (RFC 4253 §6.4): the length is inside the first encrypted block, the
//     MAC covers the plaintext.
// packet.ts needs only these properties and four operations from each.

/** One direction's packet cipher and MAC, keyed by the key exchange. */
export interface PacketCipher {
  /** Algorithm name as negotiated, for messages ("aes128-ctr+hmac-sha2-256-etm@openssh.com"). */
  readonly name: string;
  /** Cipher block size in bytes: 8 for chacha20-poly1305, 16 for AES (padding multiple). */
  readonly blockSize: number;
  /**
   * True when packet_length is not part of the encrypted block stream (AEAD and EtM modes):
   * then packet_length alone is a multiple of blockSize, else 4 + packet_length is.
   */
  readonly lengthIsAad: boolean;
  /** Bytes after each packet: the tag or MAC (16 for AEAD, 32/64 for HMAC-SHA2). */
  readonly macBytes: number;
  /**
   * Bytes at the head of a packet needed to learn its length: 4 for AEAD/EtM, blockSize
   * for encrypt-and-MAC (the first block is decrypted).
   */
  readonly headBytes: number;
  /**
   * packet_length of packet `seq` from its first `headBytes` bytes (not yet authenticated).
   * Called exactly once per packet, before `open` for the same packet.
   */
  decryptLength(seq: number, head: Uint8Array): number;
  /**
   * Authenticates and decrypts packet `seq`: `packet` is the 4 + packet_length bytes as
   * received followed by macBytes of tag or MAC. Returns padding_length ‖ payload ‖ padding
   * (packet_length bytes), or null when authentication fails.
   */
  open(seq: number, packet: Uint8Array): Uint8Array | null;
  /**
   * Encrypts packet `seq` given in clear as packet_length ‖ padding_length ‖ payload ‖
   * padding, and returns the wire bytes with the tag or MAC appended.
   */
  seal(seq: number, plainPacket: Uint8Array): Uint8Array;
}
