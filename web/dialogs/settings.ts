// Font size and theme for all terminals; changes apply at once.

import { field, h, input } from "../dom.ts";
import { FONT_SIZES, getSettings, type ThemeName, updateSettings } from "../settings.ts";
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
  return openDialog({
    title: "Settings",
    testid: "settings-dialog",
    body: [
      field("Terminal font size (px)", size),
      field("Theme", theme),
      h("p", {
        class: "hint",
        text: "Saved in this browser (localStorage); nothing secret is kept there.",
      }),
    ],
  });
}
