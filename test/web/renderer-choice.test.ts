// The terminal renderer's choice (web/terminal/renderer-choice.ts): DOM where WebGL renders in
// software (SwiftShader, llvmpipe, softpipe, "Software"), WebGL on a GPU, the Settings override
// first, DOM without WebGL2; and the setting read back from localStorage (web/settings.ts).
// Hostile renderer strings (the browser's text, quoted in the reason) are fuzzed.

import { describe, expect, it, vi } from "vitest";
import { chooseRenderer, isSoftwareRenderer } from "../../web/terminal/renderer-choice.ts";
import { seededInts } from "../helpers/seeded.ts";

const SOFTWARE = [
  "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)",
  "Google SwiftShader",
  "llvmpipe (LLVM 15.0.6, 256 bits)",
  "Mesa/X.org, llvmpipe (LLVM 17.0.6, 256 bits)",
  "softpipe",
  "Software Rasterizer",
  "ANGLE (Microsoft, Microsoft Basic Render Driver Direct3D11 vs_5_0 ps_5_0, D3D11)",
  "lavapipe",
];
const HARDWARE = [
  "ANGLE (Intel, Mesa Intel(R) UHD Graphics 620 (KBL GT2), OpenGL 4.6)",
  "ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 Direct3D11 vs_5_0 ps_5_0, D3D11)",
  "Apple M2",
  "Adreno (TM) 650",
  "Mali-G78",
  "AMD Radeon Pro 5500M OpenGL Engine",
];

describe("the terminal renderer's choice", () => {
  it("software rasterizers are recognized, GPUs are not", () => {
    for (const name of SOFTWARE) expect(isSoftwareRenderer(name), name).toBe(true);
    for (const name of HARDWARE) expect(isSoftwareRenderer(name), name).toBe(false);
  });

  it("auto: DOM on software WebGL, WebGL on a GPU, DOM without WebGL2", () => {
    for (const renderer of SOFTWARE) {
      const choice = chooseRenderer("auto", { webgl2: true, renderer });
      expect(choice.renderer).toBe("dom");
      expect(choice.reason).toMatch(/software/);
    }
    for (const renderer of HARDWARE) {
      expect(chooseRenderer("auto", { webgl2: true, renderer })).toEqual({
        renderer: "webgl",
        reason: `WebGL on ${renderer}`,
      });
    }
    // A browser that masks the renderer (no debug extension, RENDERER "WebKit WebGL"): WebGL.
    expect(chooseRenderer("auto", { webgl2: true, renderer: "WebKit WebGL" }).renderer).toBe(
      "webgl",
    );
    expect(chooseRenderer("auto", { webgl2: false, renderer: "" })).toEqual({
      renderer: "dom",
      reason: "this browser has no WebGL2",
    });
  });

  it("the Settings override wins, except that WebGL needs WebGL2", () => {
    expect(chooseRenderer("dom", { webgl2: true, renderer: HARDWARE[0]! }).renderer).toBe("dom");
    expect(chooseRenderer("webgl", { webgl2: true, renderer: SOFTWARE[0]! })).toEqual({
      renderer: "webgl",
      reason: "WebGL chosen in Settings",
    });
    expect(chooseRenderer("webgl", { webgl2: false, renderer: "" }).renderer).toBe("dom");
  });

  it("hostile renderer strings: never throw, reasons bounded and without control characters (4,000 inputs)", () => {
    const int = seededInts(0x7e4d);
    const settings = ["auto", "webgl", "dom"] as const;
    for (let i = 0; i < 4_000; i++) {
      const length = int(4) === 0 ? 1_000 + int(10_000) : int(200);
      let renderer = "";
      for (let j = 0; j < length; j++) {
        // Mostly ASCII, with controls, bidi marks and the software names spliced in.
        const pick = int(20);
        renderer +=
          pick === 0
            ? SOFTWARE[int(SOFTWARE.length)]!
            : pick === 1
              ? "\u202e"
              : String.fromCharCode(pick < 5 ? int(0x20) : pick < 7 ? 0x80 + int(0x20) : int(0x7f));
      }
      const setting = settings[int(3)]!;
      const choice = chooseRenderer(setting, { webgl2: int(4) !== 0, renderer });
      expect(["webgl", "dom"]).toContain(choice.renderer);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: what must not be there
      expect(choice.reason).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
      expect(choice.reason.length).toBeLessThanOrEqual(200);
      if (setting === "auto" && choice.renderer === "webgl") {
        expect(isSoftwareRenderer(renderer)).toBe(false);
      }
    }
  });
});

describe("the renderer setting in localStorage", () => {
  async function loadWith(stored: string | null) {
    vi.stubGlobal("localStorage", { getItem: () => stored, setItem: () => undefined });
    vi.stubGlobal("document", { documentElement: { dataset: {} } });
    vi.resetModules();
    const settings = await import("../../web/settings.ts");
    vi.unstubAllGlobals();
    return settings.getSettings().renderer;
  }

  it("defaults to auto; keeps webgl and dom; anything else reads as auto", async () => {
    expect(await loadWith(null)).toBe("auto");
    expect(await loadWith(JSON.stringify({ renderer: "webgl" }))).toBe("webgl");
    expect(await loadWith(JSON.stringify({ renderer: "dom" }))).toBe("dom");
    for (const bad of ["canvas", 1, null, { a: 1 }, "WEBGL"]) {
      expect(await loadWith(JSON.stringify({ renderer: bad }))).toBe("auto");
    }
  });
});
