// worker/http/cookies.ts bundles for the browser as the engine's Worker imports it: tough-cookie
// and its dependencies resolve to browser code with no Node built-in left for a polyfill (v6
// needs neither `punycode` nor `url`). The size is printed: tldts's public-suffix list is most
// of it (docs/cookies.md).

import { fileURLToPath } from "node:url";
import { build, type Rolldown } from "vite";
import { expect, it } from "vitest";

const ENTRY = fileURLToPath(new URL("../../worker/http/cookies.ts", import.meta.url));

it("worker/http/cookies.ts bundles for the browser with no Node built-in or external import", async () => {
  const warnings: string[] = [];
  const result = await build({
    configFile: false,
    logLevel: "silent",
    build: {
      write: false,
      minify: true,
      lib: { entry: ENTRY, formats: ["es"], fileName: "cookies" },
      rollupOptions: { onwarn: (w) => void warnings.push(w.message) },
    },
  });
  const outputs = (Array.isArray(result) ? result : [result]) as Rolldown.RolldownOutput[];
  const chunks = outputs.flatMap((o) => o.output).filter((f) => f.type === "chunk");
  expect(chunks).toHaveLength(1);
  const code = chunks[0]?.type === "chunk" ? chunks[0].code : "";
  // Everything is inlined: no import of a package or of node:* is left for the browser.
  expect(code).not.toMatch(/\bfrom\s*["'][^"'.]/);
  expect(code).not.toMatch(/\bimport\s*\(?\s*["'][^"'.]/);
  expect(code).not.toMatch(/\brequire\(/);
  expect(warnings.filter((w) => /externalized for browser|node:/.test(w))).toEqual([]);
  console.log(`cookies bundle: ${code.length} bytes minified`);
}, 60_000);
