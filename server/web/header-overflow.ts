// A browser whose cookies for the page's site outgrow Node's header limit (16 KiB) would get a
// bare 431 on every request, the page included, with no way out but clearing cookies by hand.
// A private web app can cause that: its JavaScript runs on an app origin under the page's site
// (`x.corridor.localhost`), and although the injected script keeps `document.cookie` in the
// engine, a hostile app can reach the browser's own cookie setter and write cookies for the
// whole site (Domain=corridor.localhost). So the answer to a request whose headers are too large
// carries `Clear-Site-Data: "cookies"`: the browser drops the site's cookies (the session too:
// the person signs in again) and the next load works. The parser has not read the request, so
// this answer cannot depend on it.

import type { Duplex } from "node:stream";

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Too many cookies</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 40em; margin: 3em auto; padding: 0 1em">
<h1>This browser sent too many cookies</h1>
<p>Its cookies for this site were larger than Corridor accepts. A web app opened through
Corridor may have set them for the whole site.</p>
<p>Corridor has asked the browser to clear this site's cookies. <a href="">Reload</a> the page;
you may need to sign in again.</p>
</body></html>
`;

/** The 431 answer with Clear-Site-Data, as raw HTTP/1.1 (the parser gave up on the request). */
export function headerOverflowAnswer(): string {
  const body = Buffer.from(PAGE, "utf8");
  return [
    "HTTP/1.1 431 Request Header Fields Too Large",
    "Content-Type: text/html; charset=utf-8",
    `Content-Length: ${body.length}`,
    'Clear-Site-Data: "cookies"',
    "Cache-Control: no-store",
    "X-Content-Type-Options: nosniff",
    "Connection: close",
    "",
    PAGE,
  ].join("\r\n");
}

/**
 * The relay's clientErrorFallback for `corridor serve`: headers over the limit get the answer
 * above; anything else goes back to Node's default (false).
 */
export function answerHeaderOverflow(error: Error & { code?: string }, socket: Duplex): boolean {
  if (error.code !== "HPE_HEADER_OVERFLOW") return false;
  if (socket.writable) socket.end(headerOverflowAnswer());
  else socket.destroy();
  return true;
}
