// Builds test/e2e/pages/terminal-renderer.html (the page's own xterm.ts, renderer switch and
// all, without the app) minified as the page ships, and serves it: the renderer test and
// bench:web's no-network anchor use it.

import { join } from "node:path";
import { build } from "vite";
import { PAGES_DIR, type ServedPages, serveDirectory } from "./serve-pages.ts";

/** Builds the renderer page into `tmp`/renderer-page and serves it; the caller closes it. */
export async function serveRendererPage(tmp: string): Promise<ServedPages & { url: string }> {
  const outDir = join(tmp, "renderer-page");
  await build({
    configFile: false,
    envDir: false,
    root: PAGES_DIR,
    publicDir: false,
    cacheDir: join(tmp, "renderer-vite-cache"),
    logLevel: "warn",
    clearScreen: false,
    build: {
      outDir,
      emptyOutDir: true,
      target: "es2022",
      reportCompressedSize: false,
      rolldownOptions: { input: join(PAGES_DIR, "terminal-renderer.html") },
    },
  });
  const served = await serveDirectory(outDir);
  return { ...served, url: `${served.origin}terminal-renderer.html` };
}
