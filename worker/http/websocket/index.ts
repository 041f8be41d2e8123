// The WebSocket client's public surface (RFC 6455 over any duplex byte stream).

export {
  CloseCode,
  encodeFrame,
  type Frame,
  FrameParser,
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
export {
  type OpenWebSocketOptions,
  openWebSocket,
  type WebSocketByteStream,
  WebSocketClient,
  type WebSocketCloseInfo,
  type WebSocketState,
} from "./socket.ts";
