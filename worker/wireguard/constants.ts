// WireGuard's protocol constants, named as in the paper (section 6.1 and 5.4) and wireguard-go's
// device/constants.go, noise-protocol.go and queueconstants_default.go, spelled UPPER_SNAKE.
// Times are milliseconds (suffix _MS) because Clock speaks milliseconds; message counters are
// bigint where they exceed 2^53, since a number cannot hold them exactly.
//
// Constants that belong to one mechanism alone live with it: the replay window in replay.ts,
// the rate limiter's bucket in ratelimiter.ts, TAI64N's layout in tai64n.ts.

// --- Specification constants (paper §6.1) ---

/** After this many messages under one keypair the sender starts a new handshake (2^60). */
export const REKEY_AFTER_MESSAGES: bigint = 1n << 60n;

/**
 * No keypair is used for more than this many messages (2^64 - 2^13 - 1): the counter must
 * stay a window's width clear of wrapping, or the replay filter could accept a reused nonce.
 * (Some older wireguard-go releases used 2^64 - 2^4 - 1; the paper's value is this one.)
 */
export const REJECT_AFTER_MESSAGES: bigint = (1n << 64n) - (1n << 13n) - 1n;

/** A keypair older than this is replaced by the initiator on its next send. */
export const REKEY_AFTER_TIME_MS = 120_000;

/** A keypair older than this is never used again, to send or to receive. */
export const REJECT_AFTER_TIME_MS = 180_000;

/** How long to keep retrying a handshake before giving up on the queued packets. */
export const REKEY_ATTEMPT_TIME_MS = 90_000;

/** Time to wait for a handshake response before sending a new initiation. */
export const REKEY_TIMEOUT_MS = 5_000;

/** Handshake attempts before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT (= 18). */
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME_MS / REKEY_TIMEOUT_MS;

/**
 * Up to this much random jitter is added to REKEY_TIMEOUT, so that peers whose timers fired
 * together do not keep colliding with simultaneous initiations.
 */
export const REKEY_TIMEOUT_JITTER_MAX_MS = 334;

/** Send an empty (keepalive) message if data arrived but nothing was sent back in this time. */
export const KEEPALIVE_TIMEOUT_MS = 10_000;

/** A cookie received from a peer (and the secret that makes ours) is good for this long. */
export const COOKIE_REFRESH_TIME_MS = 120_000;

/**
 * At most one initiation from a peer is consumed per this interval (1 s / 50), so a replayed
 * or flooded initiation cannot make the responder burn CPU. wireguard-go spells it
 * HandshakeInitationRate; the name here is spelled correctly.
 */
export const HANDSHAKE_INITIATION_RATE_MS = 20;

/** Plaintext of transport messages is zero-padded to a multiple of this, to blur lengths. */
export const PADDING_MULTIPLE = 16;

// --- Message formats (paper §5.4, wireguard-go noise-protocol.go) ---

/** Message type of a handshake initiation (first byte, then three reserved zero bytes). */
export const MESSAGE_INITIATION_TYPE = 1;
/** Message type of a handshake response. */
export const MESSAGE_RESPONSE_TYPE = 2;
/** Message type of a cookie reply. */
export const MESSAGE_COOKIE_REPLY_TYPE = 3;
/** Message type of a transport (data) message. */
export const MESSAGE_TRANSPORT_TYPE = 4;

/** Bytes in a handshake initiation. */
export const MESSAGE_INITIATION_SIZE = 148;
/** Bytes in a handshake response. */
export const MESSAGE_RESPONSE_SIZE = 92;
/** Bytes in a cookie reply. */
export const MESSAGE_COOKIE_REPLY_SIZE = 64;
/** Bytes of a transport message before its encrypted content: type, receiver, counter. */
export const MESSAGE_TRANSPORT_HEADER_SIZE = 16;
/** Bytes of the Poly1305 tag that ends every AEAD ciphertext. */
export const AEAD_TAG_SIZE = 16;
/** Bytes in an empty transport message (header + tag): the smallest transport message. */
export const MESSAGE_TRANSPORT_SIZE = MESSAGE_TRANSPORT_HEADER_SIZE + AEAD_TAG_SIZE;
/** A keepalive is a transport message with no content. */
export const MESSAGE_KEEPALIVE_SIZE = MESSAGE_TRANSPORT_SIZE;

/** Offset of the receiver index (little-endian u32) in a transport message. */
export const MESSAGE_TRANSPORT_OFFSET_RECEIVER = 4;
/** Offset of the counter (little-endian u64) in a transport message. */
export const MESSAGE_TRANSPORT_OFFSET_COUNTER = 8;
/** Offset of the encrypted content in a transport message. */
export const MESSAGE_TRANSPORT_OFFSET_CONTENT = 16;

/** The largest datagram: a UDP payload cannot exceed 65535 bytes. */
export const MAX_SEGMENT_SIZE = 65_535;
/** Smallest transport message (a keepalive). */
export const MIN_MESSAGE_SIZE = MESSAGE_KEEPALIVE_SIZE;
/** Largest transport message. */
export const MAX_MESSAGE_SIZE = MAX_SEGMENT_SIZE;
/** Largest plaintext a transport message can carry. */
export const MAX_CONTENT_SIZE = MAX_SEGMENT_SIZE - MESSAGE_TRANSPORT_SIZE;

// --- Implementation constants (wireguard-go) ---

/** Once under load (handshake queue past UNDER_LOAD_QUEUE_SIZE), stay so for this long. */
export const UNDER_LOAD_AFTER_TIME_MS = 1_000;

/** Most peers one device may be configured with. */
export const MAX_PEERS = 1 << 16;

/** Packets staged for a peer while it has no keypair yet; the oldest is dropped past this. */
export const QUEUE_STAGED_SIZE = 128;
/** Bound on packets waiting for encryption. */
export const QUEUE_OUTBOUND_SIZE = 1024;
/** Bound on packets waiting for decryption. */
export const QUEUE_INBOUND_SIZE = 1024;
/** Bound on handshake messages waiting to be processed; more are dropped. */
export const QUEUE_HANDSHAKE_SIZE = 1024;
/** Handshake queue depth at which the device is under load and demands cookies (mac2). */
export const UNDER_LOAD_QUEUE_SIZE = QUEUE_HANDSHAKE_SIZE / 8;
