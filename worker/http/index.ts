// The engine's HTTP/1.1 client (docs/http-client.md): wire codecs in ./wire, one connection in
// ./connection.ts, the keep-alive pool in ./pool.ts, the request API in ./client.ts.

export { ACCEPT_ENCODING, type HttpRequestInit, type HttpResponse, httpRequest } from "./client.ts";
export type { BufferStats, Dial, DuplexStream, ExchangeOutcome } from "./connection.ts";
export { HttpConnection } from "./connection.ts";
export {
  type ExchangeProgress,
  HttpError,
  type HttpErrorCode,
  HttpExchangeError,
} from "./errors.ts";
export { HttpPool, type Lease, type PoolOptions, type PoolStats } from "./pool.ts";
export { ChunkedDecoder } from "./wire/chunked.ts";
export { HttpEncodeError, HttpParseError } from "./wire/errors.ts";
export { type BodyFraming, type FramingDecision, responseFraming } from "./wire/framing.ts";
export { encodeRequestHead, type RequestHead } from "./wire/request-head.ts";
export { type ResponseHead, ResponseHeadParser } from "./wire/response-head.ts";
