// AppResponse -> Response in the app origin's service worker (web/app-sw/response.ts): a body
// still in a content coding the engine does not decode (br, zstd) is never injected into, and
// the navigation page that says so (web/app-sw/error-page.ts).

import { describe, expect, it } from "vitest";
import { codingExplanation, errorPage } from "../../web/app-sw/error-page.ts";
import { toResponse, undecodedCoding } from "../../web/app-sw/response.ts";
import type { AppResponse } from "../../worker/http/app-port.ts";

const HTML = "<!doctype html><html><head><title>t</title></head></html>";

function reply(headers: [string, string][], body: string | Uint8Array): AppResponse {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  return {
    type: "response",
    id: 1,
    status: 200,
    statusText: "OK",
    headers,
    body: new ReadableStream({
      start(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    }),
    documentCookie: "",
  };
}

const options = { method: "GET", inject: true, origin: "http://web-01--3000.corridor.localhost" };

describe("undecodedCoding", () => {
  it("names the codings left, ignoring identity", () => {
    expect(undecodedCoding([])).toBeNull();
    expect(undecodedCoding([["Content-Encoding", "identity"]])).toBeNull();
    expect(undecodedCoding([["content-encoding", " BR "]])).toBe("br");
    expect(undecodedCoding([["Content-Encoding", "identity, zstd"]])).toBe("zstd");
    expect(
      undecodedCoding([
        ["Content-Encoding", "br"],
        ["Content-Encoding", "x-custom"],
      ]),
    ).toBe("br, x-custom");
  });
});

describe("toResponse with a content coding", () => {
  it("never inserts the page script into an encoded body, and keeps its length", async () => {
    const encoded = Uint8Array.from([0x1b, 0x3c, 0x68, 0x65, 0x61, 0x64, 0x3e, 0xff, 0x00]);
    const response = toResponse(
      reply(
        [
          ["Content-Type", "text/html"],
          ["Content-Encoding", "br"],
          ["Content-Length", "9"],
        ],
        encoded,
      ),
      options,
    );
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(encoded);
    expect(response.headers.get("content-encoding")).toBe("br");
    expect(response.headers.get("content-length")).toBe("9");
  });
  it("still inserts into identity-coded HTML", async () => {
    const response = toResponse(
      reply(
        [
          ["Content-Type", "text/html"],
          ["Content-Encoding", "identity"],
        ],
        HTML,
      ),
      options,
    );
    expect(await response.text()).toContain('<head><script src="/__corridor/inject.js"');
  });
});

describe("the coding error page", () => {
  it("says which coding and what to do", async () => {
    const service = { host: "web-01", port: 3000 };
    const page = errorPage(
      "protocol",
      'the response\'s Content-Encoding is "br"',
      service,
      "http://x/",
      codingExplanation("br", service),
    );
    expect(page.headers.get("x-corridor-error")).toBe("protocol");
    const text = await page.text();
    expect(text).toContain("compressed with “br”");
    expect(text).toContain("gzip and deflate");
    expect(text).toContain("turn off Brotli compression");
    expect(text).not.toContain("not HTTP/1.1");
  });
});
