// What the page does with a server's OSC 52 clipboard requests (docs/terminal.md). Reads are
// refused, always, and nothing is answered: the terminal's Paste button has the read
// permission, and an answer would hand the clipboard to whoever runs on the host. A write
// happens only for a host the person allowed (a setting, off by default); otherwise a
// non-blocking notice offers "Copy once" or "Allow for this host", whose click is the user
// gesture the write needs. Every write, allowed or not, is shown with its size and a preview.

import { copyText } from "../clipboard.ts";
import { button, h, replace } from "../dom.ts";
import { type ClipboardGrant, clipboardWriteAllowed, setClipboardWrite } from "../settings.ts";
import { characterCount, clipboardPreview, OSC52_MAX_BASE64, parseOsc52 } from "./osc52.ts";

/** How long the notice of an allowed write stays before it hides itself. */
const WROTE_NOTICE_MS = 8000;

/** What the notice shows (its data-kind, which tests and styles read). */
export type ClipboardNoticeKind =
  | "offer"
  | "wrote"
  | "copied"
  | "failed"
  | "read-refused"
  | "ignored";

export class ClipboardGuard {
  /** The notice bar, placed over the terminal; hidden when there is nothing to show. */
  readonly element: HTMLElement;
  private hideTimer: ReturnType<typeof setTimeout> | undefined;
  private readsRefused = 0;
  private disposed = false;

  /**
   * @param grant the host this terminal talks to, as a grant would name it
   * @param label how the host is named in notices (user@host)
   * @param refocus gives the keyboard back to the terminal after a click on the notice
   */
  constructor(
    private readonly grant: ClipboardGrant,
    private readonly label: string,
    private readonly refocus: () => void,
  ) {
    this.element = h("div", {
      class: "clipboard-notice",
      testid: "clipboard-notice",
      attrs: { role: "status", "aria-live": "polite" },
    });
    this.element.hidden = true;
  }

  /** Handles the data of one OSC 52 sequence (after "52;"). Never answers the server. */
  handle(data: string): void {
    if (this.disposed) return;
    const request = parseOsc52(data);
    if (request.kind === "read") {
      this.readsRefused++;
      const times = this.readsRefused > 1 ? ` (${this.readsRefused} times)` : "";
      this.show(
        "read-refused",
        `${this.label} asked to read your clipboard${times}. Refused: a server never reads it.`,
      );
    } else if (request.kind === "invalid") {
      const limit = request.reason.startsWith("longer") ? ` (at most ${OSC52_MAX_BASE64})` : "";
      this.show(
        "ignored",
        `${this.label} sent a clipboard write that was ignored: ${request.reason}${limit}.`,
      );
    } else if (clipboardWriteAllowed(this.grant)) {
      void this.writeAllowed(request.text);
    } else {
      this.offer(request.text, `${this.label} wants to copy ${this.describe(request.text)}.`);
    }
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.hideTimer);
    this.element.remove();
  }

  /** "N characters to your clipboard: “preview”". */
  private describe(text: string): string {
    const n = characterCount(text);
    if (n === 0) return "nothing to your clipboard (it would empty it)";
    return `${n} character${n === 1 ? "" : "s"} to your clipboard: “${clipboardPreview(text)}”`;
  }

  private async writeAllowed(text: string): Promise<void> {
    try {
      // No user gesture here: Chromium allows it while the page has focus; else we offer.
      await navigator.clipboard.writeText(text);
    } catch {
      this.offer(
        text,
        `${this.label} is allowed to write ${this.describe(text)}, but the browser wants a click.`,
      );
      return;
    }
    if (this.disposed) return;
    this.show("wrote", `${this.label} wrote ${this.describe(text)}.`, [
      button("Stop allowing", () => this.revoke(), {
        class: "ghost",
        testid: "clipboard-revoke",
      }),
    ]);
    // Hidden without taking the focus: the person may be typing elsewhere by then.
    this.hideTimer = setTimeout(() => this.hide(false), WROTE_NOTICE_MS);
  }

  /** The notice for a write that waits for the person: its buttons do the write. */
  private offer(text: string, message: string): void {
    const copy = async (allow: boolean) => {
      if (allow) setClipboardWrite(this.grant, true);
      const ok = await copyText(text);
      if (this.disposed) return;
      if (ok) this.show("copied", `Copied ${this.describe(text)}.`);
      else this.show("failed", "The browser refused to write to the clipboard.");
      this.refocus();
    };
    this.show("offer", message, [
      button("Copy once", () => void copy(false), { testid: "clipboard-copy-once" }),
      button("Allow for this host", () => void copy(true), {
        class: "primary",
        testid: "clipboard-allow",
      }),
    ]);
  }

  private revoke(): void {
    setClipboardWrite(this.grant, false);
    this.show("ignored", `${this.label} may no longer write to your clipboard.`);
    this.refocus();
  }

  private show(kind: ClipboardNoticeKind, message: string, actions: HTMLElement[] = []): void {
    clearTimeout(this.hideTimer);
    this.element.dataset.kind = kind;
    replace(
      this.element,
      h("span", { class: "clipboard-notice-text", testid: "clipboard-notice-text", text: message }),
      h(
        "span",
        { class: "clipboard-notice-actions" },
        ...actions,
        button("Dismiss", () => this.hide(), {
          class: "ghost",
          testid: "clipboard-dismiss",
          attrs: { "aria-label": "Dismiss the clipboard notice" },
        }),
      ),
    );
    this.element.hidden = false;
  }

  private hide(refocus = true): void {
    clearTimeout(this.hideTimer);
    this.element.hidden = true;
    replace(this.element);
    if (refocus) this.refocus();
  }
}
