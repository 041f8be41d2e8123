// Bytes past a response's framing on a keep-alive connection (extra bytes after a
// Content-Length body, a 204 carrying a body, junk after the last chunk): the first response
// is exactly what its framing says, and the connection is not reused (two requests, two dials),
// so the stray bytes can never be read as the next response.

import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { httpRequest } from "../../worker/http/client.ts";
import { HttpPool } from "../../worker/http/pool.ts";
import { nodeDial } from "./node-dial.ts";

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

const GOOD = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood";

/**
 * A raw server: the first connection answers its first request with `first` (in one write,
 * then stays open); later connections answer every request with GOOD.
 */
async function rawServer(first: string): Promise<number> {
  let connections = 0;
  const server = createServer((s) => {
    sockets.push(s);
    s.on("error", () => {});
    const n = connections++;
    let answered = 0;
    s.on("data", () => {
      s.write(n === 0 && answered === 0 ? first : GOOD);
      answered++;
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

describe("bytes past a response's framing", () => {
  it.each([
    [
      "extra bytes after a Content-Length body",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil",
      200,
      "hello",
    ],
    [
      "a 204 with a body",
      "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil",
      204,
      "",
    ],
    [
      "junk after the last chunk",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\njunk",
      200,
      "abc",
    ],
  ])("%s: exact first response, the connection not reused", async (_, first, status, body) => {
    const port = await rawServer(first);
    const pool = new HttpPool({ dial: nodeDial() });
    const url = `http://127.0.0.1:${port}/`;
    const r1 = await httpRequest(pool, { method: "GET", url });
    expect(r1.status).toBe(status);
    expect(await new Response(r1.body).text()).toBe(body);
    const r2 = await httpRequest(pool, { method: "GET", url });
    expect(r2.status).toBe(200);
    expect(await new Response(r2.body).text()).toBe("good");
    expect(pool.stats().dialed).toBe(2);
    // The clean exchange is reused: a third request dials nothing.
    const r3 = await httpRequest(pool, { method: "GET", url });
    expect(await new Response(r3.body).text()).toBe("good");
    expect(pool.stats().dialed).toBe(2);
  });
});
