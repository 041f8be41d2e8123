// The clipboard-write grants in the page's settings (web/settings.ts): off by default, one per
// network, host and port, and whatever localStorage holds is read back bounded and checked
// (it is this page's own storage, but can be edited by hand or by an older version).

import { beforeEach, describe, expect, it, vi } from "vitest";

type SettingsModule = typeof import("../../web/settings.ts");

/** A fresh copy of the settings module over a localStorage that starts with `stored`. */
async function loadSettings(stored: string | null): Promise<{
  settings: SettingsModule;
  saved: () => string | null;
}> {
  let value = stored;
  vi.stubGlobal("localStorage", {
    getItem: () => value,
    setItem: (_key: string, next: string) => {
      value = next;
    },
  });
  vi.stubGlobal("document", { documentElement: { dataset: {} } });
  vi.resetModules();
  return { settings: await import("../../web/settings.ts"), saved: () => value };
}

const lab = { networkId: "net-1", networkName: "lab", host: "100.64.0.2", port: 22 };

describe("clipboard write grants", () => {
  beforeEach(() => {
    vi.unstubAllGlobals();
  });

  it("no host may write by default", async () => {
    const { settings } = await loadSettings(null);
    expect(settings.getSettings().clipboardWriteHosts).toEqual([]);
    expect(settings.clipboardWriteAllowed(lab)).toBe(false);
  });

  it("a grant covers its network, host and port only, is saved, and can be revoked", async () => {
    const { settings, saved } = await loadSettings(null);
    settings.setClipboardWrite(lab, true);
    expect(settings.clipboardWriteAllowed(lab)).toBe(true);
    expect(settings.clipboardWriteAllowed({ ...lab, port: 2222 })).toBe(false);
    expect(settings.clipboardWriteAllowed({ ...lab, host: "100.64.0.3" })).toBe(false);
    expect(settings.clipboardWriteAllowed({ ...lab, networkId: "net-2" })).toBe(false);
    // Granting twice keeps one entry.
    settings.setClipboardWrite(lab, true);
    expect(JSON.parse(saved()!).clipboardWriteHosts).toEqual([lab]);

    const reloaded = await loadSettings(saved());
    expect(reloaded.settings.clipboardWriteAllowed(lab)).toBe(true);
    reloaded.settings.setClipboardWrite(lab, false);
    expect(reloaded.settings.clipboardWriteAllowed(lab)).toBe(false);
    expect(JSON.parse(reloaded.saved()!).clipboardWriteHosts).toEqual([]);
  });

  it("reads stored grants back checked and bounded", async () => {
    const hostile = [
      lab,
      null,
      "100.64.0.2",
      { ...lab, port: 0 },
      { ...lab, port: 65536 },
      { ...lab, port: "22" },
      { ...lab, host: "" },
      { ...lab, host: "h".repeat(257) },
      { ...lab, networkId: 7 },
      { networkId: "net-1", host: "100.64.0.9", port: 22 },
      ...Array.from({ length: 500 }, (_, i) => ({ ...lab, host: `10.0.${i >> 8}.${i & 255}` })),
    ];
    const { settings } = await loadSettings(
      JSON.stringify({ fontSize: 14, theme: "dark", clipboardWriteHosts: hostile }),
    );
    const grants = settings.getSettings().clipboardWriteHosts;
    expect(grants[0]).toEqual(lab);
    // Only well-formed entries, from the first 200 stored.
    expect(grants).toHaveLength(1 + 190);
    expect(grants.every((g) => Number.isInteger(g.port) && g.host.length > 0)).toBe(true);

    for (const junk of ["{", '{"clipboardWriteHosts":{"a":1}}', '"text"', "null"]) {
      const again = await loadSettings(junk);
      expect(again.settings.getSettings().clipboardWriteHosts).toEqual([]);
    }
  });
});
