// Opening a WebSocket (RFC 6455 §4.1): the upgrade request, the wait for the 101 under a
// timeout, and the hand-over of the stream to the client. Apart from socket.ts, which runs the
// open connection.

import {
  buildUpgradeRequest,
  checkUpgradeResponse,
  ResponseHeadReader,
  WebSocketHandshakeError,
} from "./handshake.ts";
import { WebSocketClient } from "./socket.ts";
import type { OpenWebSocketOptions, WebSocketByteStream } from "./types.ts";

/**
 * Sends the upgrade request over `stream`, checks the 101, and returns the open client.
 * On any failure the stream is closed and a WebSocketHandshakeError (status set when the
 * server answered, e.g. 403) or the stream's own error is thrown.
 */
export async function openWebSocket(
  stream: WebSocketByteStream,
  options: OpenWebSocketOptions,
): Promise<WebSocketClient> {
  let request: ReturnType<typeof buildUpgradeRequest>;
  try {
    request = buildUpgradeRequest(options);
  } catch (e) {
    stream.close();
    throw e;
  }
  const reader = stream.readable.getReader();
  const writer = stream.writable.getWriter();
  const handshake = (async () => {
    await writer.write(request.head);
    const heads = new ResponseHeadReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done)
        throw new WebSocketHandshakeError(
          "connection closed before the server answered the upgrade",
        );
      const got = heads.push(value);
      if (got === null) continue;
      const result = checkUpgradeResponse(got.head, {
        key: request.key,
        protocols: options.protocols,
      });
      return { result, rest: got.rest };
    }
  })();
  handshake.catch(() => {});
  const ms = options.handshakeTimeoutMs ?? 30_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new WebSocketHandshakeError(`no answer to the WebSocket upgrade within ${ms} ms`)),
      ms,
    );
  });
  try {
    const { result, rest } = await Promise.race([handshake, timeout]);
    return new WebSocketClient(
      stream,
      reader,
      writer,
      result.protocol,
      result.head.headers,
      rest,
      options,
    );
  } catch (e) {
    reader.cancel().catch(() => {});
    stream.close();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
