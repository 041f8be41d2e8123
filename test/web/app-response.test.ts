// AppResponse -> Response in the app origin's service worker (web/app-sw/response.ts): a body
// still in a content coding the engine does not decode (br, zstd) is never injected into, and
// the navigation page that says so (web/app-sw/error-page.ts); a body that came whole
// (AppResponse.bytes) makes the same Response a stream would, the page script inserted at the
// same place (seeded fuzz against injectIntoStream).

import { describe, expect, it } from "vitest";
import { codingExplanation, errorPage } from "../../web/app-sw/error-page.ts";
import { INSPECT_LIMIT, injectIntoStream } from "../../web/app-sw/html-inject.ts";
import { injectIntoBytes, toResponse, undecodedCoding } from "../../web/app-sw/response.ts";
import type { AppResponse } from "../../worker/http/app-port.ts";
import { seededInts } from "../helpers/seeded.ts";

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

/** The same reply with its body whole in `bytes`, as the engine sends a small one. */
function inline(headers: [string, string][], body: string | Uint8Array): AppResponse {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  return { ...reply(headers, bytes), body: null, bytes };
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

describe("toResponse with a body that came whole", () => {
  it("passes bytes as they are, Content-Length kept", async () => {
    const headers: [string, string][] = [
      ["Content-Type", "application/json"],
      ["Content-Length", "7"],
    ];
    const response = toResponse(inline(headers, '{"a":1}'), { ...options, inject: false });
    expect(await response.text()).toBe('{"a":1}');
    expect(response.headers.get("content-length")).toBe("7");
  });
  it("inserts the page script and adapts the CSP as for a stream", async () => {
    const headers: [string, string][] = [
      ["Content-Type", "text/html; charset=utf-8"],
      ["Content-Length", String(HTML.length)],
      ["Content-Security-Policy", "script-src 'nonce-abc'"],
    ];
    const fromBytes = toResponse(inline(headers, HTML), options);
    const fromStream = toResponse(reply(headers, HTML), options);
    expect(await fromBytes.text()).toBe(await fromStream.text());
    expect(fromBytes.headers.get("content-security-policy")).toBe(
      fromStream.headers.get("content-security-policy"),
    );
    expect(fromBytes.headers.get("content-length")).toBeNull();
  });
  it("HEAD has no body; br bytes are not inserted into", async () => {
    const head = toResponse(inline([["Content-Type", "text/html"]], HTML), {
      ...options,
      method: "HEAD",
    });
    expect(head.body).toBeNull();
    const encoded = Uint8Array.from([0x1b, 0x3c, 0x68, 0x65, 0x61, 0x64, 0x3e]);
    const br = toResponse(
      inline(
        [
          ["Content-Type", "text/html"],
          ["Content-Encoding", "br"],
        ],
        encoded,
      ),
      options,
    );
    expect(new Uint8Array(await br.arrayBuffer())).toEqual(encoded);
  });
});

describe("injectIntoBytes", () => {
  const PIECES = [
    "<!doctype html>",
    "<!DOCTYPE html PUBLIC 'x'>",
    "\xef\xbb\xbf",
    "<!-- c -->",
    "<!-- unfinished",
    "<?pi?>",
    "<html>",
    '<html lang="en" =">">',
    "<head>",
    "<head x='>'>",
    "</head>",
    "<body>",
    "<script>x()</script>",
    "text ",
    "\n \t",
    "<",
    "<h",
    "<!",
  ];
  it("puts the tag where injectIntoStream does with the body in one chunk (seeded)", async () => {
    const rand = seededInts(0x1b7e);
    const tag = '<script src="/__corridor/inject.js"></script>';
    for (let run = 0; run < 1500; run++) {
      let text = "";
      for (let i = rand(9); i > 0; i--) text += PIECES[rand(PIECES.length)];
      if (rand(8) === 0) text = `<!--${"x".repeat(INSPECT_LIMIT - 8 + rand(16))}${text}`;
      const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
      const stream = injectIntoStream(
        new ReadableStream({
          start(c) {
            c.enqueue(bytes);
            c.close();
          },
        }),
        tag,
      );
      const expected = new Uint8Array(await new Response(stream).arrayBuffer());
      const got = injectIntoBytes(bytes, tag);
      expect(Buffer.from(got).equals(expected), JSON.stringify(text.slice(0, 200))).toBe(true);
    }
  });
});
