// Font size, theme and renderer for all terminals, the hosts allowed to write to the clipboard
// (OSC 52, granted from a terminal's notice), and direct paths (WebRTC); changes apply at once.

import { button, field, h, input, replace } from "../dom.ts";
import {
  type ClipboardGrant,
  FONT_SIZES,
  getSettings,
  onSettings,
  type RendererSetting,
  setClipboardWrite,
  type ThemeName,
  updateSettings,
} from "../settings.ts";
import { rendererFor } from "../terminal/renderer-choice.ts";
import { openDialog } from "./dialog.ts";

export function openSettings(): Promise<unknown> {
  const current = getSettings();
  const size = input({ type: "number", testid: "font-size", value: String(current.fontSize) });
  size.min = String(FONT_SIZES.min);
  size.max = String(FONT_SIZES.max);
  size.addEventListener("input", () => {
    const n = Number(size.value);
    if (Number.isInteger(n) && n >= FONT_SIZES.min && n <= FONT_SIZES.max)
      updateSettings({ fontSize: n });
  });
  const theme = h(
    "select",
    { testid: "theme-select" },
    h("option", { text: "Dark", attrs: { value: "dark" } }),
    h("option", { text: "Light", attrs: { value: "light" } }),
  );
  theme.value = current.theme;
  theme.addEventListener("change", () => updateSettings({ theme: theme.value as ThemeName }));
  const renderer = h(
    "select",
    { testid: "renderer-select" },
    h("option", { text: "Automatic", attrs: { value: "auto" } }),
    h("option", { text: "WebGL", attrs: { value: "webgl" } }),
    h("option", { text: "DOM", attrs: { value: "dom" } }),
  );
  renderer.value = current.renderer;
  renderer.addEventListener("change", () =>
    updateSettings({ renderer: renderer.value as RendererSetting }),
  );
  const rendererNote = h("p", { class: "hint", testid: "renderer-choice" });
  const renderRenderer = () => {
    const setting = getSettings().renderer;
    const choice = rendererFor(setting);
    const name = choice.renderer === "webgl" ? "WebGL" : "DOM";
    const auto =
      setting === "auto" ? "" : " Automatic picks DOM where WebGL runs in software, else WebGL.";
    rendererNote.textContent = `Terminals draw with ${name}: ${choice.reason}.${auto}`;
    rendererNote.dataset.renderer = choice.renderer;
  };
  renderRenderer();
  const direct = h("input", { testid: "direct-paths", attrs: { type: "checkbox" } });
  direct.checked = current.directPaths;
  direct.addEventListener("change", () => updateSettings({ directPaths: direct.checked }));
  const grants = h("ul", { class: "clipboard-grants", testid: "clipboard-grants" });
  const renderGrants = () => replace(grants, ...grantItems(getSettings().clipboardWriteHosts));
  renderGrants();
  const unsubscribe = onSettings(() => {
    renderGrants();
    renderRenderer();
  });
  return openDialog({
    title: "Settings",
    testid: "settings-dialog",
    body: [
      field("Terminal font size (px)", size),
      field("Theme", theme),
      field("Terminal renderer", renderer),
      rendererNote,
      h(
        "section",
        { class: "settings-section", testid: "direct-settings" },
        h("h3", { text: "Direct connections" }),
        h(
          "label",
          { class: "check" },
          direct,
          h("span", { text: " Connect to mesh hosts directly (WebRTC) when possible" }),
        ),
        h("p", {
          class: "hint",
          text:
            "Traffic stays end-to-end encrypted either way. Direct is faster and spares the " +
            "relay, but the host learns this browser's network addresses; off, everything goes " +
            "through the relay. Applies to every tab of this browser.",
        }),
      ),
      h(
        "section",
        { class: "settings-section", testid: "clipboard-settings" },
        h("h3", { text: "Hosts that may write to your clipboard" }),
        h("p", {
          class: "hint",
          text:
            "A program on a host can ask the terminal to set your clipboard (OSC 52). By default " +
            "you are asked each time; a host you allowed writes at once, and each write is shown. " +
            "No host can ever read your clipboard.",
        }),
        grants,
      ),
      h("p", {
        class: "hint",
        text: "Saved in this browser (localStorage); nothing secret is kept there.",
      }),
    ],
  }).finally(unsubscribe);
}

function grantItems(list: readonly ClipboardGrant[]): HTMLElement[] {
  if (list.length === 0) {
    return [h("li", { class: "muted", testid: "clipboard-grants-empty", text: "None allowed." })];
  }
  return list.map((grant) => {
    const host = grant.host.includes(":") ? `[${grant.host}]` : grant.host;
    const name = `${host}:${grant.port} on ${grant.networkName}`;
    return h(
      "li",
      { class: "clipboard-grant", testid: "clipboard-grant" },
      h("span", { text: name }),
      button("Stop allowing", () => setClipboardWrite(grant, false), {
        class: "ghost",
        testid: "clipboard-grant-remove",
        attrs: { "aria-label": `Stop allowing ${name} to write to the clipboard` },
      }),
    );
  });
}
