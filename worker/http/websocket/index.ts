// The WebSocket client's public surface (RFC 6455 over any duplex byte stream).

export {
  CloseCode,
  encodeFrame,
  type Frame,
  Opcode,
  parseClosePayload,
  WebSocketProtocolError,
} from "./frame.ts";
export {
  acceptFor,
  buildUpgradeRequest,
  checkUpgradeResponse,
  type HandshakeResult,
  type ResponseHead,
  ResponseHeadReader,
  WebSocketHandshakeError,
} from "./handshake.ts";
export type { WebSocketMessage } from "./message.ts";
export { openWebSocket } from "./open.ts";
export { FrameParser } from "./parser.ts";
export {
  type OpenWebSocketOptions,
  type WebSocketByteStream,
  WebSocketClient,
  type WebSocketCloseInfo,
  type WebSocketState,
} from "./socket.ts";
