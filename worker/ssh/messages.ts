// SSH message numbers and disconnect reason codes, named as in RFC 4250 §4.1 and §4.2.2
// (plus RFC 8308 EXT_INFO), so code reads like the RFCs.

export const SSH_MSG_DISCONNECT = 1;
export const SSH_MSG_IGNORE = 2;
export const SSH_MSG_UNIMPLEMENTED = 3;
export const SSH_MSG_DEBUG = 4;
export const SSH_MSG_SERVICE_REQUEST = 5;
export const SSH_MSG_SERVICE_ACCEPT = 6;
export const SSH_MSG_EXT_INFO = 7;
export const SSH_MSG_KEXINIT = 20;
export const SSH_MSG_NEWKEYS = 21;
/** KEXDH_INIT and KEX_ECDH_INIT share number 30; the replies share 31 (RFC 5656 §7.1). */
export const SSH_MSG_KEX_ECDH_INIT = 30;
export const SSH_MSG_KEX_ECDH_REPLY = 31;
export const SSH_MSG_USERAUTH_REQUEST = 50;
export const SSH_MSG_USERAUTH_FAILURE = 51;
export const SSH_MSG_USERAUTH_SUCCESS = 52;
export const SSH_MSG_USERAUTH_BANNER = 53;
/** 60 is PK_OK, PASSWD_CHANGEREQ or INFO_REQUEST depending on the method in progress. */
export const SSH_MSG_USERAUTH_PK_OK = 60;
export const SSH_MSG_USERAUTH_INFO_REQUEST = 60;
export const SSH_MSG_USERAUTH_INFO_RESPONSE = 61;
export const SSH_MSG_GLOBAL_REQUEST = 80;
export const SSH_MSG_REQUEST_SUCCESS = 81;
export const SSH_MSG_REQUEST_FAILURE = 82;
export const SSH_MSG_CHANNEL_OPEN = 90;
export const SSH_MSG_CHANNEL_OPEN_CONFIRMATION = 91;
export const SSH_MSG_CHANNEL_OPEN_FAILURE = 92;
export const SSH_MSG_CHANNEL_WINDOW_ADJUST = 93;
export const SSH_MSG_CHANNEL_DATA = 94;
export const SSH_MSG_CHANNEL_EXTENDED_DATA = 95;
export const SSH_MSG_CHANNEL_EOF = 96;
export const SSH_MSG_CHANNEL_CLOSE = 97;
export const SSH_MSG_CHANNEL_REQUEST = 98;
export const SSH_MSG_CHANNEL_SUCCESS = 99;
export const SSH_MSG_CHANNEL_FAILURE = 100;

/** Disconnect reason codes (RFC 4250 §4.2.2). */
export const SSH_DISCONNECT = {
  HOST_NOT_ALLOWED_TO_CONNECT: 1,
  PROTOCOL_ERROR: 2,
  KEY_EXCHANGE_FAILED: 3,
  RESERVED: 4,
  MAC_ERROR: 5,
  COMPRESSION_ERROR: 6,
  SERVICE_NOT_AVAILABLE: 7,
  PROTOCOL_VERSION_NOT_SUPPORTED: 8,
  HOST_KEY_NOT_VERIFIABLE: 9,
  CONNECTION_LOST: 10,
  BY_APPLICATION: 11,
  TOO_MANY_CONNECTIONS: 12,
  AUTH_CANCELLED_BY_USER: 13,
  NO_MORE_AUTH_METHODS_AVAILABLE: 14,
  ILLEGAL_USER_NAME: 15,
} as const;

/** The RFC name of a disconnect reason code, or "reason N" for an unknown one. */
export function disconnectReasonName(code: number): string {
  for (const [name, value] of Object.entries(SSH_DISCONNECT)) {
    if (value === code) return `SSH_DISCONNECT_${name}`;
  }
  return `reason ${code}`;
}

/** Channel open failure reason codes (RFC 4254 §5.1). */
export const SSH_OPEN = {
  ADMINISTRATIVELY_PROHIBITED: 1,
  CONNECT_FAILED: 2,
  UNKNOWN_CHANNEL_TYPE: 3,
  RESOURCE_SHORTAGE: 4,
} as const;

/** The RFC name of a channel open failure code, or "reason N". */
export function openFailureName(code: number): string {
  for (const [name, value] of Object.entries(SSH_OPEN)) {
    if (value === code) return `SSH_OPEN_${name}`;
  }
  return `reason ${code}`;
}

/** Message numbers the key exchange may use (RFC 4253 §7: 20-29 generic, 30-49 method). */
export function isKexMessage(type: number): boolean {
  return type >= 20 && type <= 49;
}
