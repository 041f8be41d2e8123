// #/shares: the shares this person made (an admin sees every share the API lists), each with what
// it offers, who may accept, until when and how many uses, its acceptances (who, when, which
// browser, online now) and Revoke for the whole share and for each acceptance. Refreshed every
// few seconds while the page is visible (the acceptances change as people accept and leave).

import type {
  ShareAcceptanceView,
  ShareListBody,
  ShareView,
} from "../../worker/control/api-views.ts";
import type { ControlApi } from "../control-api.ts";
import { openDialog } from "../dialogs/dialog.ts";
import { button, errorText, h, replace } from "../dom.ts";
import { relativeTime } from "../format.ts";
import { audienceText, expiryText } from "../share/share-offer.ts";

/** How often the list is asked for again while visible. */
export const SHARES_REFRESH_MS = 3_000;

/** "Chrome on Linux" from a User-Agent (enough to tell a person's browsers apart). */
export function browserText(userAgent: string): string {
  const ua = userAgent.slice(0, 512);
  const browser = /Edg\//.test(ua)
    ? "Edge"
    : /Firefox\//.test(ua)
      ? "Firefox"
      : /Chrom(e|ium)\//.test(ua)
        ? "Chrome"
        : /Safari\//.test(ua)
          ? "Safari"
          : "";
  const os = /Android/.test(ua)
    ? "Android"
    : /iPhone|iPad|iOS/.test(ua)
      ? "iOS"
      : /Windows/.test(ua)
        ? "Windows"
        : /Mac OS X|Macintosh/.test(ua)
          ? "macOS"
          : /Linux|X11/.test(ua)
            ? "Linux"
            : "";
  if (browser === "" && os === "") return ua === "" ? "unknown browser" : ua.slice(0, 60);
  return [browser || "a browser", os].filter((s) => s !== "").join(" on ");
}

/** What a share offers, in a few words. */
export function offerText(share: Pick<ShareView, "sshUsers" | "ports">): string {
  const parts = [];
  if (share.sshUsers.length > 0) parts.push(`SSH as ${share.sshUsers.join(", ")}`);
  if (share.ports.length > 0)
    parts.push(`port${share.ports.length > 1 ? "s" : ""} ${share.ports.join(", ")}`);
  return parts.join(" · ");
}

function usesLine(share: ShareView): string {
  return share.maxUses === null
    ? `${share.uses} accepted (no limit)`
    : `${share.uses} of ${share.maxUses} used`;
}

function stateText(share: ShareView): string {
  switch (share.state) {
    case "active":
      return `active, until ${expiryText(share.expiresAt)}`;
    case "revoked":
      return `revoked ${relativeTime(share.revokedAt)}`;
    case "expired":
      return `expired ${relativeTime(share.expiresAt)}`;
    case "used-up":
      return `used up, until ${expiryText(share.expiresAt)}`;
  }
}

/** Whether an acceptance's recipient is connected now (its share node's map stream is up). */
function isOnline(a: ShareAcceptanceView): boolean {
  return a.online && a.endedAt === null;
}

export class SharesView {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly problem: HTMLElement;
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private loading = false;

  constructor(private readonly api: ControlApi) {
    this.list = h("div", { class: "shares", testid: "shares-list" });
    this.problem = h("p", {
      class: "form-error",
      testid: "shares-problem",
      attrs: { role: "alert" },
    });
    this.problem.hidden = true;
    this.element = h(
      "section",
      { class: "page shares-page", testid: "shares-page" },
      h("div", { class: "page-head" }, h("h1", { text: "Shares" })),
      h("p", {
        class: "muted",
        text: "Devices you shared by link. Revoking ends access at once: the recipient's terminal closes and the device drops their packets. Share a device from its page under Mesh (Share…).",
      }),
      this.problem,
      this.list,
    );
    void this.refresh();
    this.timer = setInterval(() => {
      if (document.visibilityState === "visible") void this.refresh();
    }, SHARES_REFRESH_MS);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    if (this.loading || this.stopped) return;
    this.loading = true;
    try {
      const body = await this.api.get<ShareListBody>("/api/v1/shares");
      if (this.stopped) return;
      this.problem.hidden = true;
      this.render(body.shares);
    } catch (error) {
      this.problem.textContent = `Could not list the shares: ${errorText(error)}`;
      this.problem.hidden = false;
    } finally {
      this.loading = false;
    }
  }

  private render(shares: ShareView[]): void {
    if (shares.length === 0) {
      replace(
        this.list,
        h("p", { class: "muted", testid: "shares-empty", text: "No shares yet." }),
      );
      return;
    }
    const sorted = [...shares].sort(
      (a, b) =>
        Number(b.state === "active") - Number(a.state === "active") || b.createdAt - a.createdAt,
    );
    replace(this.list, ...sorted.map((share) => this.card(share)));
  }

  private card(share: ShareView): HTMLElement {
    const active = share.state === "active" || share.state === "used-up";
    return h(
      "article",
      {
        class: "card share-card",
        testid: "share-item",
        data: { id: share.id, state: share.state },
      },
      h(
        "div",
        { class: "page-head" },
        h(
          "div",
          {},
          h("h2", { text: share.nodeName || `node ${share.nodeId}` }),
          h("p", { class: "muted", testid: "share-item-what", text: offerText(share) }),
        ),
        active
          ? button("Revoke share", () => void this.revoke(share), {
              class: "danger small",
              testid: "share-revoke",
            })
          : null,
      ),
      h(
        "dl",
        { class: "facts" },
        h("dt", { text: "State" }),
        h("dd", { testid: "share-item-state", text: stateText(share) }),
        h("dt", { text: "Who may accept" }),
        h("dd", {
          text:
            share.audience === "emails"
              ? `${audienceText(share.audience).split(" (")[0]}: ${share.emails.join(", ")}`
              : audienceText(share.audience),
        }),
        h("dt", { text: "Uses" }),
        h("dd", { testid: "share-item-uses", text: usesLine(share) }),
        share.note === "" ? null : h("dt", { text: "Note" }),
        share.note === "" ? null : h("dd", { text: share.note }),
      ),
      share.acceptances.length === 0
        ? h("p", { class: "muted", text: "Nobody accepted it yet." })
        : h(
            "ul",
            { class: "share-acceptances", testid: "share-acceptances" },
            ...share.acceptances.map((a) => this.acceptance(share, a)),
          ),
    );
  }

  private acceptance(share: ShareView, a: ShareAcceptanceView): HTMLElement {
    const online = isOnline(a);
    const ended =
      a.endedAt === null
        ? online
          ? "online now"
          : "offline"
        : `${a.endReason ?? "ended"} ${relativeTime(a.endedAt)}`;
    return h(
      "li",
      {
        class: "share-acceptance",
        testid: "share-acceptance",
        data: { id: String(a.id), online: String(online) },
      },
      h("span", { class: "dot", data: { state: online ? "connected" : "closed" } }),
      h(
        "span",
        { class: "share-acceptance-who" },
        h("strong", { text: a.name }),
        h("span", {
          class: "muted",
          text: ` · accepted ${relativeTime(a.acceptedAt)} · ${browserText(a.userAgent)} · `,
        }),
        h("span", { testid: "share-acceptance-state", text: ended }),
      ),
      a.endedAt === null
        ? button("Revoke", () => void this.revokeAcceptance(share, a), {
            class: "ghost small",
            testid: "share-acceptance-revoke",
            attrs: { "aria-label": `Revoke ${a.name}'s access` },
          })
        : null,
    );
  }

  private async revoke(share: ShareView): Promise<void> {
    const yes = await openDialog<boolean>({
      title: `Revoke the share of ${share.nodeName}?`,
      testid: "share-revoke-dialog",
      submitTestid: "share-revoke-confirm",
      submitLabel: "Revoke",
      danger: true,
      body: [
        h("p", {
          text: "The link stops working and everyone who accepted it loses access at once; their open sessions end.",
        }),
      ],
      onSubmit: async () => {
        await this.api.send("DELETE", `/api/v1/shares/${encodeURIComponent(share.id)}`);
        return true;
      },
    });
    if (yes) await this.refresh();
  }

  private async revokeAcceptance(share: ShareView, a: ShareAcceptanceView): Promise<void> {
    try {
      await this.api.send(
        "DELETE",
        `/api/v1/shares/${encodeURIComponent(share.id)}/acceptances/${a.id}`,
      );
    } catch (error) {
      this.problem.textContent = `Could not revoke ${a.name}'s access: ${errorText(error)}`;
      this.problem.hidden = false;
    }
    await this.refresh();
  }
}
