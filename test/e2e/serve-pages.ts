// Serves test/e2e/pages to a real browser on http://127.0.0.1:PORT (a secure context), two ways:
//   "build": `vite build` into a temp dir, served by a plain node:http static server — what
//            ships (worker bundling with worker.format "es"), no on-demand work while tested.
//   "dev":   the Vite dev server, which transforms TypeScript per request — what `vite` users see.
// Both use their own inline config (configFile: false): the repo's vite.config.ts is for web/.

import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { createServer as createHttpServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build, createServer, type InlineConfig } from "vite";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Where the e2e tests put their screenshots (build/e2e-artifacts). */
export const ARTIFACTS = join(REPO_ROOT, "build", "e2e-artifacts");
export const PAGES_DIR = fileURLToPath(new URL("./pages", import.meta.url));

export type ServeMode = "build" | "dev";

export interface ServedPages {
  /** Origin with a trailing slash, e.g. "http://127.0.0.1:40123/". */
  origin: string;
  close(): Promise<void>;
}

function baseConfig(cacheDir: string): InlineConfig {
  return {
    configFile: false,
    envDir: false,
    root: PAGES_DIR,
    publicDir: false,
    cacheDir,
    logLevel: "warn",
    clearScreen: false,
    worker: { format: "es" },
  };
}

export async function servePages(mode: ServeMode): Promise<ServedPages> {
  const tmp = await mkdtemp(join(tmpdir(), "corridor-e2e-"));
  try {
    const served = mode === "build" ? await serveBuilt(tmp) : await serveDev(tmp);
    return {
      origin: served.origin,
      async close() {
        try {
          await served.close();
        } finally {
          await rm(tmp, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function serveDev(tmp: string): Promise<ServedPages> {
  const server = await createServer({
    ...baseConfig(join(tmp, "vite-cache")),
    appType: "mpa",
    // No dependency scan or pre-bundling: the pages import only local files, and a late
    // discovery would reload the page in the middle of a test.
    optimizeDeps: { noDiscovery: true, include: [] },
    server: {
      host: "127.0.0.1",
      port: 0,
      strictPort: true,
      hmr: false,
      watch: null,
      fs: { strict: true, allow: [REPO_ROOT] },
    },
  });
  try {
    await server.listen();
    const address = server.httpServer?.address();
    if (address === null || address === undefined || typeof address === "string") {
      throw new Error("vite dev server: no TCP address");
    }
    return { origin: `http://127.0.0.1:${address.port}/`, close: () => server.close() };
  } catch (err) {
    await server.close();
    throw err;
  }
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".map": "application/json",
};

async function serveBuilt(tmp: string): Promise<ServedPages> {
  const outDir = join(tmp, "dist");
  await build({
    ...baseConfig(join(tmp, "vite-cache")),
    build: {
      outDir,
      emptyOutDir: true,
      target: "es2022",
      minify: false,
      reportCompressedSize: false,
      rolldownOptions: { input: join(PAGES_DIR, "crypto.html") },
    },
  });
  return serveDirectory(outDir);
}

/** Serves the files under `dir` read-only over http://127.0.0.1:PORT/ (GET only). */
export async function serveDirectory(dir: string): Promise<ServedPages> {
  const root = resolve(dir);
  const server: Server = createHttpServer((req, res) => {
    void (async () => {
      const requested = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      const pathname = requested.endsWith("/") ? `${requested}index.html` : requested;
      const file = normalize(join(root, pathname));
      if (req.method !== "GET" || !(file === root || file.startsWith(root + sep))) {
        res.writeHead(req.method !== "GET" ? 405 : 403).end();
        return;
      }
      const info = await stat(file).catch(() => null);
      if (info === null || !info.isFile()) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, {
        "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream",
        "content-length": info.size,
        "cache-control": "no-store",
      });
      createReadStream(file).pipe(res);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
