// The recipient's page of a share link (`/s/<id>#<secret>`, issue 17): what is offered, Accept
// (or "Sign in to accept"), then the shared device: a terminal as the first offered user for an
// SSH share, "Open" for each shared web service. It shows nothing else: not the recipient's own
// mesh, networks or other hosts (no sidebar; only this share's sessions get tabs). When the
// sharer revokes the share, or it expires, while the page is open (the engine's share node is
// refused with share_revoked / share_expired), a banner says so over the terminal and the
// terminal says so too.

import { proxy } from "comlink";
import type { MeshHost, MeshStatus, ShareState } from "../../worker/api.ts";
import { shareNetworkId } from "../../worker/api.ts";
import type { ShareOffer } from "../../worker/control/api-views.ts";
import type { App } from "../app.ts";
import { type ControlApi, ControlApiError, controlApi } from "../control-api.ts";
import { installDebugHooks } from "../debug.ts";
import { button, h, replace } from "../dom.ts";
import type { Engine } from "../engine.ts";
import { applyPageTheme } from "../settings.ts";
import { type Account, loadAccount } from "../shell/account.ts";
import { appsPlace } from "../shell/app-links.ts";
import { TerminalTabs } from "../views/terminal-tabs.ts";
import {
  cleanSharePath,
  keepSecretForSignIn,
  type ShareLocation,
  takeKeptSecret,
} from "./share-link.ts";
import { fetchOffer, offerFacts, quarantineText } from "./share-offer.ts";
import {
  endedText,
  leftPage,
  type RefusalText,
  refusalPage,
  refusalText,
  waiting,
} from "./share-refusals.ts";
import { ShareServices } from "./share-services.ts";

/** How terminal tabs name a share's network. */
const SHARE_NETWORK_NAME = "shared";

/** Starts the share page in `root` (main.ts, for a path under /s/). */
export function createSharePage(root: HTMLElement, engine: Engine, where: ShareLocation): App {
  applyPageTheme();
  const page = new SharePage(root, engine, controlApi);
  void page.start(where);
  return {
    setEngineStatus: (state, text) => page.setEngineStatus(state, text),
    // The share page lists no networks.
    refreshNetworks: async () => undefined,
  };
}

class SharePage {
  private readonly status: HTMLElement;
  private readonly who: HTMLElement;
  private readonly bar: HTMLElement;
  private readonly banner: HTMLElement;
  private readonly pageArea: HTMLElement;
  private readonly main: HTMLElement;
  private readonly tabs: TerminalTabs;
  private id = "";
  private secret: string | null = null;
  private account: Account | null = null;
  private offer: ShareOffer | null = null;
  private ended = false;
  private watchId: string | null = null;

  constructor(
    root: HTMLElement,
    private readonly engine: Engine,
    private readonly api: ControlApi,
  ) {
    this.status = h("p", {
      class: "engine-status",
      testid: "engine-status",
      text: "Starting the engine…",
      attrs: { role: "status" },
    });
    this.who = h("div", { class: "account", testid: "share-who" });
    this.bar = h("div", { class: "share-bar", testid: "share-bar" });
    this.bar.hidden = true;
    this.banner = h("div", {
      class: "share-ended",
      testid: "share-ended",
      attrs: { role: "alert" },
    });
    this.banner.hidden = true;
    this.pageArea = h("div", { class: "page-area", testid: "page-area" });
    // Only this share's sessions: a reload brings them back, and never another network's.
    const network = () => shareNetworkId(this.id);
    this.tabs = new TerminalTabs(engine, (live) => live.networkId === network());
    installDebugHooks(this.tabs, engine);
    this.main = h(
      "main",
      { class: "main share-main", data: { view: "page" } },
      this.bar,
      this.banner,
      this.tabs.strip,
      this.pageArea,
      this.tabs.panels,
    );
    this.tabs.onActiveChange = (session) => this.showLayer(session ? "session" : "page");
    replace(
      root,
      h(
        "div",
        { class: "app share-app", testid: "share-app" },
        h(
          "header",
          { class: "app-header" },
          h(
            "span",
            { class: "brand" },
            h("span", { class: "brand-mark", attrs: { "aria-hidden": "true" } }),
            h("span", { class: "brand-name", text: "Corridor" }),
          ),
          this.status,
          h("div", { class: "header-actions" }, this.who),
        ),
        this.main,
      ),
    );
  }

  setEngineStatus(state: "ready" | "error", text: string): void {
    this.status.dataset.state = state;
    this.status.textContent = text;
    this.status.title = text;
  }

  private showLayer(layer: "page" | "session"): void {
    this.main.dataset.view = layer;
    this.pageArea.hidden = layer !== "page";
  }

  private show(element: HTMLElement): void {
    this.tabs.activate(undefined);
    this.showLayer("page");
    replace(this.pageArea, element);
  }

  private refuse(refusal: RefusalText): void {
    this.bar.hidden = true;
    this.show(refusalPage(refusal));
  }

  /** `where`: the address as main.ts read it (takeShareLocation: the secret already out of it). */
  async start(where: ShareLocation): Promise<void> {
    // Another link pasted into this tab changes only the fragment: read it as a new page.
    window.addEventListener("hashchange", () => {
      if (location.hash.length > 1) location.reload();
    });
    if (where.kind === "bad") {
      this.refuse(refusalText("bad_link"));
      return;
    }
    this.id = where.id;
    this.secret = where.kind === "share" ? where.secret : takeKeptSecret(sessionStorage, where.id);
    this.show(waiting("Opening the share…"));
    this.account = await loadAccount(this.api);
    this.showWho();
    const held = await this.engine.shareState(this.id).catch(() => null);
    if (held !== null && held.status.state !== "refused") {
      // Accepted already in this browser (a reload): back to it, no new acceptance.
      await this.accepted(held);
      return;
    }
    if (this.secret === null) {
      this.refuse(refusalText("no_secret"));
      return;
    }
    await this.loadOffer();
  }

  private showWho(): void {
    const account = this.account;
    replace(
      this.who,
      h("span", {
        class: "muted",
        text:
          account?.state === "signed-in"
            ? `Signed in as ${account.me.user.name || account.me.user.email}`
            : "Guest",
      }),
    );
  }

  /** Asks what the link offers; shows it (or the refusal's page). `show` false: only asks. */
  private async loadOffer(show = true): Promise<void> {
    const secret = this.secret;
    if (secret === null) return;
    try {
      this.offer = await fetchOffer(this.id, secret);
    } catch (error) {
      this.offer = null;
      // A secret of the wrong shape is refused as a body: to the person it is a broken link.
      const code =
        error instanceof ControlApiError
          ? error.code === "invalid_body"
            ? "bad_link"
            : error.code
          : "error";
      this.refuse(refusalText(code, error instanceof Error ? error.message : String(error)));
      return;
    }
    if (show) this.showOffer(this.offer);
  }

  private showOffer(offer: ShareOffer): void {
    const signedIn = this.account?.state === "signed-in";
    const needsSignIn = offer.audience !== "anyone" && !signedIn;
    const error = h("p", { class: "form-error", testid: "share-error", attrs: { role: "alert" } });
    error.hidden = true;
    const accept = needsSignIn
      ? this.signInAction()
      : button("Accept", () => void this.accept(accept as HTMLButtonElement, error), {
          class: "primary large",
          testid: "share-accept",
        });
    this.show(
      h(
        "section",
        { class: "page share-offer", testid: "share-offer" },
        h("h1", {
          class: "share-offer-title",
          text: `${offer.sharedBy} shares ${offer.device.name} with you`,
        }),
        offerFacts(offer),
        h("p", { class: "muted", text: quarantineText(offer.device.name) }),
        h(
          "div",
          { class: "share-actions" },
          accept,
          signedIn || offer.audience !== "anyone"
            ? null
            : h("span", { class: "muted", text: "You accept as a guest." }),
        ),
        error,
      ),
    );
  }

  /** "Sign in to accept": the deployment's SSO, back to this share (its secret kept meanwhile). */
  private signInAction(): HTMLElement {
    const methods = this.account?.state === "signed-out" ? this.account.methods : null;
    if (methods?.oidc) {
      return button(
        "Sign in to accept",
        () => {
          if (this.secret !== null) keepSecretForSignIn(sessionStorage, this.id, this.secret);
          location.assign(`/login/oidc?return=${encodeURIComponent(cleanSharePath(this.id))}`);
        },
        { class: "primary large", testid: "share-sign-in" },
      );
    }
    return h("p", {
      class: "form-error",
      testid: "share-sign-in",
      text: "This share is for people who sign in to this Corridor. Sign in with your sign-in link in this browser, then open the share link again.",
    });
  }

  private async accept(acceptButton: HTMLButtonElement, error: HTMLElement): Promise<void> {
    if (this.secret === null) return;
    acceptButton.disabled = true;
    acceptButton.textContent = "Joining…";
    error.hidden = true;
    const result = await this.engine.shareAccept(this.id, this.secret).catch((e: unknown) => ({
      ok: false as const,
      status: 0,
      code: "error",
      message: e instanceof Error ? e.message : String(e),
    }));
    if (!result.ok) {
      // The refusal's own page; a refusal the engine could not read is asked again through the
      // offer, which the server refuses for the same reasons.
      let code = result.code;
      if (code === "unexpected_answer" || code === "error") {
        await this.loadOffer(false);
        if (this.offer === null) return;
        // The offer stands, so the refusal was about who accepts: the audience's two codes.
        if (result.status === 401) code = "share_sign_in_required";
        else if (result.status === 403 && this.offer.audience === "emails") {
          code = "share_email_not_allowed";
        }
      }
      if (code.startsWith("share_")) {
        this.refuse(refusalText(code, result.message, this.offer?.sharedBy));
        return;
      }
      acceptButton.disabled = false;
      acceptButton.textContent = "Accept";
      error.textContent = `Not accepted: ${result.message}`;
      error.hidden = false;
      return;
    }
    // Accepted: the secret is spent; nothing keeps it.
    this.secret = null;
    await this.accepted(result.state);
  }

  /** The share is this browser's: the bar, its watch, and the terminal or the web service. */
  private async accepted(state: ShareState): Promise<void> {
    const offer = this.offer;
    const device = state.device?.name ?? offer?.device.name ?? "the device";
    const ports = offer?.ports ?? [];
    const services = new ShareServices({
      device,
      ports,
      place: appsPlace(
        window.location,
        this.account?.state === "signed-out" || this.account?.state === "signed-in"
          ? this.account.methods.appsDomain
          : undefined,
      ),
    });
    const users = offer?.sshUsers ?? [];
    // Without a terminal, why services cannot open here is the page's text, not the bar's.
    if (users.length === 0) services.why.hidden = true;
    replace(
      this.bar,
      h(
        "span",
        { class: "share-bar-title" },
        h("span", { class: "dot", testid: "share-dot", data: { state: "connecting" } }),
        h("strong", { text: device, testid: "share-bar-device" }),
        offer ? h("span", { class: "muted", text: ` shared by ${offer.sharedBy}` }) : null,
      ),
      h(
        "span",
        { class: "share-bar-actions" },
        ...users.map((user) =>
          button(`Terminal as ${user}`, () => this.openTerminal(device, user), {
            class: "small",
            testid: "share-terminal",
          }),
        ),
        services.element,
        button("Leave", () => void this.leave(), { class: "ghost small", testid: "share-leave" }),
      ),
    );
    this.bar.hidden = false;
    await this.watch();
    const first = users[0];
    const open = this.tabs.sessions.length;
    if (first !== undefined && open === 0) this.openTerminal(device, first);
    if (first === undefined && open === 0) {
      this.show(
        h(
          "section",
          { class: "page share-accepted", testid: "share-accepted" },
          h("h1", { text: `${device} is shared with you` }),
          h("p", {
            class: "lead",
            testid: "share-accepted-text",
            text:
              ports.length === 0
                ? "This browser reaches the shared device now."
                : services.openable
                  ? "Open a shared web service above; each opens in a tab of its own."
                  : services.why.textContent,
          }),
        ),
      );
    }
    // The first web service opens at once (a browser may block it: Open is above).
    if (first === undefined) services.openFirst();
  }

  private openTerminal(device: string, user: string): void {
    this.tabs.open({
      networkId: shareNetworkId(this.id),
      networkName: SHARE_NETWORK_NAME,
      host: device,
      port: 22,
      user,
      keyIds: [],
    });
  }

  private async watch(): Promise<void> {
    if (this.watchId !== null) return;
    const listener = proxy({
      onMesh: (status: MeshStatus, hosts: MeshHost[]) => this.onShare(status, hosts),
    });
    this.watchId = await this.engine.watchShare(this.id, listener).catch(() => null);
  }

  private onShare(status: MeshStatus, hosts: MeshHost[]): void {
    const dot = this.bar.querySelector<HTMLElement>('[data-testid="share-dot"]');
    const online = hosts[0]?.online === true;
    if (dot)
      dot.dataset.state =
        status.state === "ready" && online
          ? "connected"
          : status.state === "refused"
            ? "closed"
            : "connecting";
    if (status.state !== "refused" || this.ended) return;
    this.ended = true;
    const { reason, title, text } = endedText(status);
    replace(this.banner, h("strong", { text: title }), h("span", { text: ` ${text}` }));
    this.banner.dataset.reason = reason;
    this.banner.dataset.code = status.code ?? "";
    this.banner.hidden = false;
    // Nothing on the bar can reach the device any more; Leave stays.
    for (const b of this.bar.querySelectorAll<HTMLButtonElement>("button")) {
      if (b.dataset.testid !== "share-leave") b.disabled = true;
    }
    for (const session of this.tabs.sessions) session.endedBy(`${title}. ${text}`);
    if (this.tabs.sessions.length === 0) {
      this.refuse(
        reason === "ended"
          ? refusalText(status.code ?? "error", text)
          : refusalText(`share_${reason}`, "", this.offer?.sharedBy),
      );
    }
  }

  private async leave(): Promise<void> {
    for (const session of [...this.tabs.sessions]) this.tabs.close(session);
    if (this.watchId !== null)
      await this.engine.unwatchShare(this.id, this.watchId).catch(() => undefined);
    this.watchId = null;
    await this.engine.shareLeave(this.id).catch(() => undefined);
    this.bar.hidden = true;
    this.banner.hidden = true;
    this.show(leftPage());
  }
}
