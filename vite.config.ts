import { defineConfig, type Plugin } from "vite";

/**
 * Adds <link rel="modulepreload"> for the engine's Worker script and its SIMD crypto chunk
 * (which carries the wasm), so the browser fetches both while the page's own script runs,
 * instead of one after the other once the Worker starts (hashed names, cached for a year:
 * the Worker then gets them from the HTTP cache).
 */
function preloadEngine(): Plugin {
  return {
    name: "corridor-preload-engine",
    apply: "build",
    transformIndexHtml: {
      order: "post",
      handler(_html, ctx) {
        const assets = Object.values(ctx.bundle ?? {}).filter(
          (file) =>
            file.type === "asset" &&
            file.fileName.endsWith(".js") &&
            !/(^|\/)scalar-/.test(file.fileName),
        );
        return assets.map((file) => ({
          tag: "link",
          attrs: { rel: "modulepreload", crossorigin: true, href: `/${file.fileName}` },
          injectTo: "head" as const,
        }));
      },
    },
  };
}

// The page lives in web/; the engine is loaded from worker/ as a module Web Worker.
export default defineConfig({
  root: "web",
  plugins: [preloadEngine()],
  build: {
    outDir: "../dist",
    emptyOutDir: true,
    target: "es2022",
    // xterm and its addons are one lazily loaded chunk (~133 KB gzip), outside the first load.
    chunkSizeWarningLimit: 700,
  },
  worker: {
    format: "es",
  },
});
