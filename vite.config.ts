import { defineConfig } from "vite";

// The page lives in web/; the engine is loaded from worker/ as a module Web Worker.
export default defineConfig({
  root: "web",
  build: {
    outDir: "../dist",
    emptyOutDir: true,
    target: "es2022",
  },
  worker: {
    format: "es",
  },
});
