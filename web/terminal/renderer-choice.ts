// Which renderer draws the terminal. xterm's WebGL renderer is the fast one on a GPU, but where
// the browser only has software GL (SwiftShader, llvmpipe: VMs, remote desktops, headless
// Chromium, laptops under a GPU blocklist) it is ~10x slower than the DOM renderer (issue 15:
// 0.98 MB/s against 9.4 MB/s in the same browser). So "auto" asks WebGL what it runs on and
// picks DOM for software; the person can override it in Settings. The probe lives here, in
// the first load, so Settings can say what auto would pick before any terminal opens.

import type { RendererSetting } from "../settings.ts";

/** The renderer a terminal draws with. */
export type RendererName = "webgl" | "dom";

/** What the browser's WebGL is: whether WebGL2 (what xterm's addon needs) exists, on what. */
export interface WebglProbe {
  webgl2: boolean;
  /** The unmasked renderer string (e.g. "ANGLE (Google, Vulkan 1.3.0 (SwiftShader ...))"), or
   *  the masked one when the browser hides it; "" when there is no WebGL2. */
  renderer: string;
}

/** The decision and a sentence saying why, for Settings and the session bar's tooltip. */
export interface RendererChoice {
  renderer: RendererName;
  reason: string;
}

/** Names in a WebGL renderer string that mean rasterizing on the CPU. */
const SOFTWARE = /swiftshader|llvmpipe|softpipe|software|basic render driver|lavapipe/i;

/** Whether a WebGL renderer string names a software rasterizer. */
export function isSoftwareRenderer(rendererString: string): boolean {
  return SOFTWARE.test(rendererString);
}

/** Longest renderer string quoted in a reason (the browser's text, shown to the person). */
const MAX_QUOTED = 120;

function quoted(text: string): string {
  // Control and bidirectional characters go: the text is the browser's, shown to the person.
  const clean = text
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, " ")
    .trim();
  return clean.length > MAX_QUOTED ? `${clean.slice(0, MAX_QUOTED - 1)}…` : clean;
}

/** Applies the person's setting to what the browser has (pure: tested in Node). */
export function chooseRenderer(setting: RendererSetting, probe: WebglProbe): RendererChoice {
  if (setting === "dom") return { renderer: "dom", reason: "DOM chosen in Settings" };
  if (!probe.webgl2) {
    return {
      renderer: "dom",
      reason:
        setting === "webgl"
          ? "WebGL chosen in Settings, but this browser has no WebGL2"
          : "this browser has no WebGL2",
    };
  }
  if (setting === "webgl") return { renderer: "webgl", reason: "WebGL chosen in Settings" };
  if (isSoftwareRenderer(probe.renderer)) {
    return {
      renderer: "dom",
      reason: `WebGL here is software (${quoted(probe.renderer)}): DOM is faster`,
    };
  }
  const on = probe.renderer ? ` on ${quoted(probe.renderer)}` : "";
  return { renderer: "webgl", reason: `WebGL${on}` };
}

let cached: WebglProbe | undefined;

/** Asks a throwaway WebGL2 context what it runs on (once per page; the context is released). */
export function probeWebgl(): WebglProbe {
  if (cached) return cached;
  cached = { webgl2: false, renderer: "" };
  try {
    const gl = document.createElement("canvas").getContext("webgl2");
    if (gl) {
      const info = gl.getExtension("WEBGL_debug_renderer_info");
      const name = info
        ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL)
        : gl.getParameter(gl.RENDERER);
      cached = { webgl2: true, renderer: typeof name === "string" ? name : "" };
      gl.getExtension("WEBGL_lose_context")?.loseContext();
    }
  } catch {
    // A browser that throws on WebGL has none to offer: DOM.
  }
  return cached;
}

/** The renderer `setting` comes to in this browser. */
export function rendererFor(setting: RendererSetting): RendererChoice {
  if (setting === "dom") return chooseRenderer(setting, { webgl2: false, renderer: "" });
  return chooseRenderer(setting, probeWebgl());
}
