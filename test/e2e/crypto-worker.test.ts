// The wasm crypto core in a real browser: Debian's Chromium loads test/e2e/pages/crypto.html
// (served by a Vite production build and by the Vite dev server), which runs the cases on the
// page's main thread and in a module Web Worker, for the SIMD build, the scalar build and the
// auto-detected one. Every output must equal, byte for byte, what Node computes with
// loadCryptoCore for the same build; Node's outputs are in turn checked against @noble.
//
// Data exchange: the test calls page.evaluate(fn, { build, cases }) where fn calls
// window.corridorE2E.runMain / runWorker (installed by pages/crypto-page.ts). Cases and results
// are plain JSON with every byte string as hex; the Worker gets them by postMessage.

import { poly1305 as noblePoly1305 } from "@noble/ciphers/_poly1305.js";
import {
  chacha20poly1305,
  hchacha,
  chacha20 as nobleChacha20,
  xchacha20poly1305,
} from "@noble/ciphers/chacha.js";
import { blake2s as nobleBlake2s } from "@noble/hashes/blake2.js";
import { hmac } from "@noble/hashes/hmac.js";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCryptoCore } from "../../worker/crypto/index.ts";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import {
  type Build,
  type BuildChoice,
  type Cases,
  fromHex,
  makeCases,
  type Results,
  type RunReport,
  runCases,
  toHex,
} from "./pages/crypto-cases.ts";
import { type ServedPages, type ServeMode, servePages } from "./serve-pages.ts";

const HOOK_TIMEOUT = 120_000;
const TEST_TIMEOUT = 60_000;

const cases: Cases = makeCases();
const BUILDS: readonly Build[] = ["simd", "scalar"];

/** What Node computes, per build (computed once, on first use). */
const nodeResults = new Map<Build, Promise<Results>>();
function expected(build: Build): Promise<Results> {
  const cached = nodeResults.get(build);
  if (cached !== undefined) return cached;
  const computed = (async () => {
    const core = await loadCryptoCore({ build });
    expect(core.build).toBe(build);
    return runCases(core, cases);
  })();
  nodeResults.set(build, computed);
  return computed;
}

/** Readable differences: missing or extra outputs, and the first differing byte of each. */
function diffResults(got: Results, want: Results): string[] {
  const out: string[] = [];
  for (const name of Object.keys(want)) {
    if (!(name in got)) out.push(`${name}: missing`);
  }
  for (const [name, value] of Object.entries(got)) {
    if (!(name in want)) {
      out.push(`${name}: unexpected`);
      continue;
    }
    const w = want[name] ?? null;
    if (value === w) continue;
    if (value === null || w === null) {
      out.push(
        `${name}: got ${value === null ? "null" : "bytes"}, want ${w === null ? "null" : "bytes"}`,
      );
      continue;
    }
    let i = 0;
    while (i < value.length && value[i] === w[i]) i++;
    const at = Math.floor(i / 2);
    out.push(
      `${name}: got ${value.length / 2} bytes, want ${w.length / 2}; first difference at byte ${at}: ` +
        `got ${value.slice(2 * at, 2 * at + 16)}…, want ${w.slice(2 * at, 2 * at + 16)}…`,
    );
  }
  return out;
}

describe("Node results agree with @noble (so browser = Node is not two equal wrongs)", () => {
  for (const build of BUILDS) {
    it(`${build} build`, async () => {
      const r = await expected(build);
      const want: Results = {};
      const enc = (v: Uint8Array) => toHex(v);
      cases.aead.forEach((k, i) => {
        const [key, nonce, pt, ad] = [k.key, k.nonce, k.plaintext, k.ad].map(fromHex) as [
          Uint8Array,
          Uint8Array,
          Uint8Array,
          Uint8Array,
        ];
        want[`aeadSeal[${i}] len=${pt.length} ad=${ad.length}`] = enc(
          chacha20poly1305(key, nonce, ad).encrypt(pt),
        );
        want[`aeadOpen[${i}] len=${pt.length} ad=${ad.length}`] = k.plaintext;
        want[`aeadOpen tampered[${i}] len=${pt.length} ad=${ad.length}`] = null;
      });
      cases.xaead.forEach((k, i) => {
        const [key, nonce, pt, ad] = [k.key, k.nonce, k.plaintext, k.ad].map(fromHex) as [
          Uint8Array,
          Uint8Array,
          Uint8Array,
          Uint8Array,
        ];
        want[`xaeadSeal[${i}] len=${pt.length} ad=${ad.length}`] = enc(
          xchacha20poly1305(key, nonce, ad).encrypt(pt),
        );
        want[`xaeadOpen[${i}] len=${pt.length} ad=${ad.length}`] = k.plaintext;
        want[`xaeadOpen tampered[${i}] len=${pt.length} ad=${ad.length}`] = null;
      });
      cases.chacha20.forEach((k, i) => {
        const data = fromHex(k.data);
        want[`chacha20[${i}] counter=${k.counter} len=${data.length}`] = enc(
          nobleChacha20(fromHex(k.key), fromHex(k.nonce), data, undefined, k.counter),
        );
      });
      cases.hchacha20.forEach((k, i) => {
        want[`hchacha20[${i}]`] = enc(hchacha20Ref(fromHex(k.key), fromHex(k.nonce)));
      });
      cases.poly1305.forEach((k, i) => {
        const m = fromHex(k.message);
        want[`poly1305[${i}] len=${m.length}`] = enc(noblePoly1305(m, fromHex(k.key)));
      });
      cases.blake2s.forEach((k, i) => {
        const data = fromHex(k.data);
        const key = fromHex(k.key);
        want[`blake2s[${i}] len=${data.length} out=${k.outLen} key=${key.length}`] = enc(
          nobleBlake2s(data, key.length > 0 ? { dkLen: k.outLen, key } : { dkLen: k.outLen }),
        );
      });
      cases.hmac.forEach((k, i) => {
        const key = fromHex(k.key);
        const data = fromHex(k.data);
        want[`hmacBlake2s[${i}] key=${key.length} len=${data.length}`] = enc(
          hmac(nobleBlake2s, key, data),
        );
      });
      cases.kdf.forEach((k, i) => {
        const input = fromHex(k.input);
        const prk = hmac(nobleBlake2s, fromHex(k.key), input);
        let prev = new Uint8Array(0);
        for (let j = 1; j <= k.n; j++) {
          prev = hmac(nobleBlake2s, prk, Uint8Array.of(...prev, j));
          want[`kdf[${i}] n=${k.n} len=${input.length} out${j}`] = enc(prev);
        }
      });
      // Every output checked by an oracle must match; the extra names (default-argument
      // variants, kdf counts) are compared browser vs Node below.
      const got: Results = {};
      for (const name of Object.keys(want)) got[name] = name in r ? (r[name] ?? null) : "(missing)";
      expect(diffResults(got, want)).toEqual([]);
    });
  }
});

/** HChaCha20 from noble's core (it takes the sigma constants and the key as u32 words). */
function hchacha20Ref(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  const sigma = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
  const words = (b: Uint8Array) => new Uint32Array(b.slice().buffer);
  const out = new Uint32Array(8);
  hchacha(sigma, words(key), words(nonce16), out);
  return new Uint8Array(out.buffer);
}

describeWithPrereq(chromiumPrereq(), "crypto in Chromium matches Node", () => {
  let browser: Browser | undefined;

  beforeAll(async () => {
    browser = await launchChromium(HOOK_TIMEOUT);
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    await browser?.close();
  }, HOOK_TIMEOUT);

  const modes: ServeMode[] = ["build", "dev"];
  for (const mode of modes) {
    describe(`served by vite ${mode}`, () => {
      let served: ServedPages | undefined;
      let page: Page | undefined;
      const log: string[] = [];

      beforeAll(async () => {
        served = await servePages(mode);
        if (browser === undefined) throw new Error("browser did not start");
        page = await browser.newPage();
        page.on("console", (m) => log.push(`console.${m.type()}: ${m.text()}`));
        page.on("pageerror", (e) => log.push(`pageerror: ${e.message}`));
        page.on("requestfailed", (r) =>
          log.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ""}`),
        );
        await page.goto(new URL("crypto.html", served.origin).href, { timeout: TEST_TIMEOUT });
        await page
          .waitForFunction(() => window.corridorE2E !== undefined, null, { timeout: TEST_TIMEOUT })
          .catch((err: unknown) => {
            throw new Error(`page did not become ready: ${String(err)}\n${log.join("\n")}`);
          });
      }, HOOK_TIMEOUT);

      afterAll(async () => {
        try {
          await page?.close();
        } finally {
          await served?.close();
        }
      }, HOOK_TIMEOUT);

      async function run(where: "main" | "worker", build: BuildChoice): Promise<RunReport> {
        if (page === undefined) throw new Error("page did not load");
        const logStart = log.length;
        try {
          return await page.evaluate(
            ({ where, build, cases }) => {
              const api = window.corridorE2E;
              if (api === undefined) throw new Error("window.corridorE2E is not installed");
              return where === "main" ? api.runMain(build, cases) : api.runWorker(build, cases);
            },
            { where, build, cases },
          );
        } catch (err) {
          const extra = log.slice(logStart).join("\n");
          throw new Error(`${String(err)}${extra ? `\nbrowser log:\n${extra}` : ""}`);
        }
      }

      for (const where of ["worker", "main"] as const) {
        for (const build of ["simd", "scalar", "auto"] as const) {
          it(
            `${where === "worker" ? "module Worker" : "main thread"}, build ${build}`,
            async () => {
              const report = await run(where, build);
              expect(report.where).toBe(where);
              // Chromium validates wasm SIMD, so auto-detection must pick the SIMD build.
              expect(report.build).toBe(build === "auto" ? "simd" : build);
              const want = await expected(report.build);
              expect(Object.keys(report.results).length).toBeGreaterThan(100);
              expect(diffResults(report.results, want)).toEqual([]);
            },
            TEST_TIMEOUT,
          );
        }
      }
    });
  }
});
