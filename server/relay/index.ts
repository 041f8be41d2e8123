// The relay server's public surface.

export { createLogger, type Logger, type LogSink } from "../log.ts";
export { DEFAULT_LOG_LIMIT, type LogLimit } from "../log-limit.ts";
export { MetricsRegistry } from "../metrics/registry.ts";
export { type AuthResult, type RelayAuth, RelayAuthorizer } from "./auth.ts";
export { addressGroup } from "./connection-slots.ts";
export {
  type CapName,
  type DropReason,
  type HelloResult,
  type RelayMetricName,
  RelayMetrics,
} from "./metrics.ts";
export { RELAY_DEFAULTS, type RelayOptions } from "./options.ts";
export { isLoopbackHost, pageOrigins, parseOrigin } from "./origins.ts";
export { type RelayRate, TokenBucket } from "./rate-limit.ts";
export {
  MAX_MESSAGE,
  RELAY_PATH,
  type RelayCloseOptions,
  RelayServer,
  startRelay,
} from "./relay-server.ts";
export {
  CLOSE_GOING_AWAY,
  CLOSE_PROTOCOL_ERROR,
  CLOSE_REPLACED,
  CLOSE_RESTARTING,
  CLOSE_UNAUTHORIZED,
} from "./session.ts";
export {
  ANY_RELAY,
  type RelayTokenPayload,
  signRelayToken,
  type TokenCheck,
  verifyRelayToken,
} from "./token.ts";
export type { UdpBridgeClient, UdpBridgeHook } from "./udp-bridge-hook.ts";
