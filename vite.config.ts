import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

/**
 * Adds <link rel="modulepreload"> for the engine's Worker script, the chunks it imports
 * statically and its SIMD crypto chunk (which carries the wasm), so the browser fetches them
 * while the page's own script runs, instead of one after the other once the Worker starts
 * (hashed names, cached for a year: the Worker then gets them from the HTTP cache). The
 * engine's lazily loaded chunks (worker/engine/lazy.ts: SSH, files, mesh, the WireGuard
 * device) are not preloaded: they are outside the first load.
 */
function preloadEngine(): Plugin {
  return {
    name: "corridor-preload-engine",
    apply: "build",
    transformIndexHtml: {
      order: "post",
      handler(_html, ctx) {
        // The Worker's chunks are emitted as assets of the page's bundle; its entry is index-*.
        const scripts = new Map<string, string>();
        for (const file of Object.values(ctx.bundle ?? {})) {
          if (file.type === "asset" && file.fileName.endsWith(".js")) {
            scripts.set(file.fileName, String(file.source));
          }
        }
        const entry = [...scripts.keys()].find((name) => /(^|\/)index-[\w-]+\.js$/.test(name));
        const wanted = new Set<string>();
        const visit = (name: string) => {
          const source = scripts.get(name);
          if (source === undefined || wanted.has(name)) return;
          wanted.add(name);
          const dir = name.slice(0, name.lastIndexOf("/") + 1);
          // Static imports only (`import{…}from"./x.js"`, `import"./x.js"`); import(`…`) is lazy.
          for (const m of source.matchAll(/(?:\bfrom|\bimport)\s*["']\.\/([\w.-]+\.js)["']/g)) {
            visit(dir + m[1]);
          }
        };
        if (entry !== undefined) visit(entry);
        for (const name of scripts.keys()) if (/(^|\/)simd-/.test(name)) wanted.add(name);
        const assets = [...wanted].map((fileName) => ({ fileName }));
        return assets.map((file) => ({
          tag: "link",
          attrs: { rel: "modulepreload", crossorigin: true, href: `/${file.fileName}` },
          injectTo: "head" as const,
        }));
      },
    },
  };
}

/**
 * The Worker's bundle takes SHA-512 for bcrypt-pbkdf from @noble/hashes instead of all of
 * tweetnacl (worker/crypto/tweetnacl-sha512.ts): 12 KB gzip less in the first load.
 */
const TWEETNACL_SHIM = fileURLToPath(new URL("worker/crypto/tweetnacl-sha512.ts", import.meta.url));

/**
 * Builds the download service worker (web/download-sw.ts) as one self-contained script at the
 * fixed URL /download-sw.js (a worker's scope hangs on its URL, so no hash), bundled by esbuild;
 * the dev server serves the same bundle at that path.
 */
function downloadWorker(): Plugin {
  const bundle = async () => {
    const { build: esbuild } = await import("esbuild");
    const out = await esbuild({
      entryPoints: [fileURLToPath(new URL("web/download-sw.ts", import.meta.url))],
      bundle: true,
      write: false,
      format: "iife",
      target: "es2022",
      minify: true,
    });
    return out.outputFiles[0]!.text;
  };
  return {
    name: "corridor-download-worker",
    // Written beside the bundle, not emitted into it: the engine preload above takes every
    // emitted .js asset for a module to preload, and this one is not.
    async writeBundle(options) {
      const { writeFile } = await import("node:fs/promises");
      await writeFile(`${options.dir}/download-sw.js`, await bundle());
    },
    configureServer(server) {
      server.middlewares.use("/download-sw.js", (_req, res, next) => {
        bundle().then((code) => {
          res.setHeader("Content-Type", "text/javascript");
          res.end(code);
        }, next);
      });
    },
  };
}

/** One self-contained script (an IIFE), bundled by esbuild, for a fixed URL. */
async function bundleScript(entry: string): Promise<string> {
  const { build: esbuild } = await import("esbuild");
  const out = await esbuild({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: "iife",
    target: "es2022",
    minify: true,
  });
  return out.outputFiles[0]!.text;
}

/**
 * Builds what app origins are answered with (docs/private-urls.md) into dist/app-bootstrap/:
 * the bootstrap's static index.html and bootstrap.css copied, and three scripts bundled by
 * esbuild, each one file at a fixed URL (no hash: a service worker's identity is its URL):
 * bootstrap.js (web/app-bootstrap/bootstrap.ts), sw.js (the app origin's service worker,
 * web/app-sw/sw.ts) and inject.js (the script the worker puts into the app's pages,
 * web/app-inject/inject.ts). `corridor serve` answers app origins from there only (under
 * /__corridor/), so none of the page's assets is ever part of it, and it hides the directory
 * on the Corridor origin. Written beside the bundle, as the download worker is, so the engine
 * preload above never sees it.
 */
function appBootstrap(): Plugin {
  const web = fileURLToPath(new URL("web/", import.meta.url));
  const scripts: Record<string, string> = {
    "bootstrap.js": `${web}app-bootstrap/bootstrap.ts`,
    "sw.js": `${web}app-sw/sw.ts`,
    "inject.js": `${web}app-inject/inject.ts`,
  };
  return {
    name: "corridor-app-bootstrap",
    apply: "build",
    async writeBundle(options) {
      const { copyFile, mkdir, writeFile } = await import("node:fs/promises");
      const out = `${options.dir}/app-bootstrap`;
      await mkdir(out, { recursive: true });
      for (const [name, entry] of Object.entries(scripts)) {
        await writeFile(`${out}/${name}`, await bundleScript(entry));
      }
      await copyFile(`${web}app-bootstrap/bootstrap.css`, `${out}/bootstrap.css`);
      // index.html last: the server takes a changed index.html as "rebuilt".
      await copyFile(`${web}app-bootstrap/index.html`, `${out}/index.html`);
    },
  };
}

// The page lives in web/; the engine is loaded from worker/ as a module Web Worker. Budgets
// (issue 15; test/e2e/weight.test.ts counts them in Chromium): first load <= 150 KB gzip,
// everything up to a shell prompt <= 250 KB gzip.
export default defineConfig({
  root: "web",
  plugins: [preloadEngine(), downloadWorker(), appBootstrap()],
  resolve: { alias: [{ find: /^tweetnacl$/, replacement: TWEETNACL_SHIM }] },
  build: {
    outDir: "../dist",
    emptyOutDir: true,
    target: "es2022",
    // xterm and its addons are a lazily loaded chunk (~93 KB gzip), outside the first load;
    // the WebGL and search addons are chunks of their own, fetched only when used.
    chunkSizeWarningLimit: 700,
    rollupOptions: {
      // The bridge (web/app-bridge/, served at /__corridor/bridge on the Corridor origin) is a
      // page of this build, not a bundle of its own: it must start the very SharedWorker script
      // the page starts (same hashed URL), or it would run a second engine.
      input: {
        index: fileURLToPath(new URL("web/index.html", import.meta.url)),
        bridge: fileURLToPath(new URL("web/app-bridge/bridge.html", import.meta.url)),
      },
    },
  },
  worker: {
    format: "es",
  },
});
