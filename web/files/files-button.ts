// The "Files" button of a terminal tab's bar. The files panel's code (web/files/files-panel.ts
// and what it imports) is loaded on the first click only, so the first load of the page and the
// way to a shell prompt do not carry it. The panel opens over the terminal area of its tab and
// works on that tab's SSH session (SFTP on the same connection).

import { button, errorText } from "../dom.ts";
import type { Engine } from "../engine.ts";

/** What the panel module exports (the lazily loaded chunk). */
type PanelModule = typeof import("./files-panel.ts");

/**
 * A "Files" button: `sessionId()` is the tab's connected session (undefined while it is not
 * connected: the button says so), `area()` the element the panel is shown in.
 */
export function filesButton(
  engine: Engine,
  sessionId: () => string | undefined,
  area: () => HTMLElement | null,
): HTMLButtonElement {
  let loading: Promise<PanelModule> | undefined;
  let panel: InstanceType<PanelModule["FilesPanel"]> | undefined;
  let panelSession: string | undefined;
  const toggle = async () => {
    const id = sessionId();
    if (panel?.isOpen && panelSession === id) {
      panel.close();
      return;
    }
    if (id === undefined) {
      self.title = "Files need a connected session";
      return;
    }
    self.disabled = true;
    try {
      loading ??= import("./files-panel.ts");
      const { FilesPanel } = await loading;
      if (panel === undefined || panelSession !== id) {
        panel?.close();
        panel?.element.remove();
        panel = new FilesPanel(engine, id);
        panelSession = id;
        panel.onClose = () => self.setAttribute("aria-pressed", "false");
      }
      if (!panel.element.isConnected) area()?.appendChild(panel.element);
      panel.open();
      self.setAttribute("aria-pressed", "true");
      self.title = "Files of this session (SFTP)";
    } catch (error) {
      loading = undefined;
      self.title = `The files panel did not load: ${errorText(error)}`;
    } finally {
      self.disabled = false;
    }
  };
  const self = button("Files", () => void toggle(), {
    class: "files-button",
    testid: "files-button",
    title: "Files of this session (SFTP)",
    attrs: { "aria-pressed": "false" },
  });
  return self;
}
