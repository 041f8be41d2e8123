// What a page really fetched, counted in the browser: every HTTP response the page and its
// Worker received (playwright reports the Worker's requests on the page), with the bytes that
// crossed the wire (encoded body and headers, as Chromium counts them) and the body's gzip -9
// size (the budget's unit: issue 15 items 11 and 12, "<= 250 KB gzip to a shell prompt",
// "<= 150 KB first load"). The relay's WebSocket and its frames are traffic, not weight: not
// counted. Used by test/e2e/weight.test.ts and bench:web.

import { gzipSync } from "node:zlib";
import type { Page, Request } from "playwright-core";

export interface Fetched {
  path: string;
  status: number;
  /** Content-Encoding as served ("" when none). */
  encoding: string;
  /** Bytes on the wire: response headers and encoded body. */
  transferred: number;
  /** The decoded body compressed with gzip -9. */
  gzip: number;
}

export interface Weight {
  responses: Fetched[];
  gzip: number;
  transferred: number;
}

/** The budgets (bytes, gzip) the test asserts and the bench reports. */
export const BUDGET = { firstLoad: 150 * 1024, toPrompt: 250 * 1024 };

/** Starts counting `page`'s responses; `snapshot()` waits for those in flight and sums. */
export function watchWeight(page: Page): { snapshot(): Promise<Weight> } {
  const pending: Promise<Fetched | undefined>[] = [];
  const count = async (request: Request): Promise<Fetched | undefined> => {
    const response = await request.response();
    if (!response) return undefined;
    const [sizes, body, headers] = await Promise.all([
      request.sizes(),
      response.body().catch(() => Buffer.alloc(0)),
      response.allHeaders(),
    ]);
    return {
      path: new URL(request.url()).pathname,
      status: response.status(),
      encoding: headers["content-encoding"] ?? "",
      // Chromium reports 0 body bytes for some encoded responses here; Content-Length is what
      // the server sent then.
      transferred:
        (sizes.responseBodySize || Number(headers["content-length"] ?? 0)) +
        sizes.responseHeadersSize,
      gzip: body.length === 0 ? 0 : gzipSync(body, { level: 9 }).length,
    };
  };
  page.on("requestfinished", (request) => {
    if (!request.url().startsWith("data:")) pending.push(count(request));
  });
  return {
    async snapshot() {
      // One count per file: a Worker's fetch of a script the page preloaded is served from
      // the preload (0 bytes on the wire) and reported again.
      const seen = new Set<string>();
      const responses = (await Promise.all([...pending])).filter((r): r is Fetched => {
        if (r === undefined || seen.has(r.path)) return false;
        seen.add(r.path);
        return true;
      });
      return {
        responses,
        gzip: responses.reduce((n, r) => n + r.gzip, 0),
        transferred: responses.reduce((n, r) => n + r.transferred, 0),
      };
    },
  };
}

/** "148.2 KB" (1 KB = 1024 bytes, as the budget counts). */
export function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

/** One line per response, for a failure message or the bench's table. */
export function describeWeight(weight: Weight): string {
  return weight.responses
    .map(
      (r) =>
        `${r.path} ${r.status} ${r.encoding || "identity"} wire ${r.transferred} gzip ${r.gzip}`,
    )
    .join("\n");
}
