// Terminal color themes matching the page's dark and light themes.

import type { ITheme } from "@xterm/xterm";
import type { ThemeName } from "../settings.ts";

const dark: ITheme = {
  background: "#0d1117",
  foreground: "#d6dde6",
  cursor: "#7aa7ff",
  cursorAccent: "#0d1117",
  selectionBackground: "#264f78",
  black: "#1b1f27",
  red: "#f26d6d",
  green: "#5fcf80",
  yellow: "#e3b341",
  blue: "#6ea8fe",
  magenta: "#c38cf2",
  cyan: "#56c7d8",
  white: "#d6dde6",
  brightBlack: "#6b7686",
  brightRed: "#ff8f8f",
  brightGreen: "#7ee2a0",
  brightYellow: "#f2cc60",
  brightBlue: "#94c0ff",
  brightMagenta: "#d8acff",
  brightCyan: "#7fdbe8",
  brightWhite: "#ffffff",
};

const light: ITheme = {
  background: "#ffffff",
  foreground: "#1f2328",
  cursor: "#0a58ca",
  cursorAccent: "#ffffff",
  selectionBackground: "#b6d4fe",
  black: "#24292f",
  red: "#cf222e",
  green: "#116329",
  yellow: "#7d4e00",
  blue: "#0550ae",
  magenta: "#8250df",
  cyan: "#1b7c83",
  white: "#6e7781",
  brightBlack: "#57606a",
  brightRed: "#a40e26",
  brightGreen: "#1a7f37",
  brightYellow: "#633c01",
  brightBlue: "#0969da",
  brightMagenta: "#a475f9",
  brightCyan: "#3192aa",
  brightWhite: "#8c959f",
};

export function terminalTheme(name: ThemeName): ITheme {
  return name === "light" ? light : dark;
}
