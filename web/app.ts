// The page: a header (engine state, who is signed in), a sidebar (the mesh, the wg-quick
// networks and their hosts, admin links) and a main area with terminal tabs or a page in
// front. What is on screen follows the URL fragment (web/router.ts), so it can be bookmarked
// and back/forward work. The engine is injected, so views can be checked against a fake one.

import type { NetworkSummary } from "../worker/api.ts";
import { controlApi, isAdminRole } from "./control-api.ts";
import { installDebugHooks } from "./debug.ts";
import { openSettings } from "./dialogs/settings.ts";
import { openSshKeys } from "./dialogs/ssh-keys.ts";
import { button, errorText } from "./dom.ts";
import type { Engine } from "./engine.ts";
import { formatRoute, isPageRoute, parseRoute, type Route } from "./router.ts";
import { applyPageTheme } from "./settings.ts";
import { type Account, loadAccount } from "./shell/account.ts";
import { AccountBar } from "./shell/account-bar.ts";
import { Layout } from "./shell/layout.ts";
import { MeshWatch } from "./shell/mesh-watch.ts";
import { type Page, Pages } from "./shell/pages.ts";
import { takeReturnRoute } from "./shell/return-route.ts";
import { SshLauncher } from "./shell/ssh.ts";
import { messageView } from "./views/home.ts";
import { HostsView } from "./views/hosts.ts";
import { NetworksView } from "./views/networks.ts";
import { SidebarNav } from "./views/sidebar-nav.ts";
import { TerminalTabs } from "./views/terminal-tabs.ts";

export interface App {
  setEngineStatus(state: "ready" | "error", text: string): void;
  /** Lists networks (after the engine is up) and shows the route of the URL. */
  refreshNetworks(): Promise<void>;
}

export function createApp(root: HTMLElement, engine: Engine): App {
  applyPageTheme();
  const mesh = new MeshWatch(engine);
  let account: Account | null = null;
  let networks: NetworkSummary[] = [];
  let listed = false;
  let meshSettled = false;
  let selectedId: string | undefined;
  let hosts: HostsView | undefined;
  let page: Page | undefined;
  let handledSsh = "";
  /** Set when the server ended this browser's session while the page was open. */
  let signInReason = "";

  const tabs = new TerminalTabs(engine);
  const nav = new SidebarNav();
  const networksView = new NetworksView({
    onSelect: (network) => navigate({ kind: "network", id: network.id }),
    onAdd: () => navigate({ kind: "network-add" }),
  });
  const layout = new Layout(root, {
    actions: [
      button("SSH keys", () => void openSshKeys(engine), { class: "ghost", testid: "keys-button" }),
      button("Settings", () => void openSettings(), { class: "ghost", testid: "settings-button" }),
    ],
    sidebar: [nav.element, networksView.element],
    strip: tabs.strip,
    panels: tabs.panels,
  });
  installDebugHooks(tabs, engine);
  const accountBar = new AccountBar(layout.account, {
    signIn: () => navigate({ kind: "mesh" }),
    signOut: () => void signOutNow(),
  });
  const ssh = new SshLauncher({
    engine,
    api: controlApi,
    tabs,
    mesh,
    networks: () => networks,
    signedOut: () => account?.state === "signed-out",
    selectNetwork,
    showMessage: (title, text) =>
      showPage({ element: messageView(title, text, "deeplink-message") }),
    showSignIn: (hash) => showPage(pages.signIn(hash, signInReason)),
  });
  const pages = new Pages({
    engine,
    api: controlApi,
    mesh,
    ssh,
    account: () => account,
    signInReason: () => signInReason,
    networks: () => networks,
    navigate,
    refreshNetworks: () => refreshNetworks(),
    forgetSelection: () => {
      selectedId = undefined;
    },
  });

  mesh.subscribe((status, meshHosts) => {
    nav.setMesh(status, meshHosts.filter((h) => h.online).length, meshHosts.length);
    // The server ended this browser's session (expired, signed out elsewhere): sign in again.
    if (status.state === "refused" && status.code === "unauthenticated" && account) {
      if (account.state === "signed-in") {
        account = { state: "signed-out", methods: account.methods };
        signInReason = `Your session ended (${status.detail ?? "signed out"}): sign in again to use the mesh.`;
        showAccount();
        void render();
      }
    }
  });

  tabs.onActiveChange = (session) => {
    if (session && !ssh.opening && !ssh.opened.has(session)) {
      // A session the engine kept over a reload: it gets a tab, but the page the URL names
      // stays in front (a bookmark of a page shows that page).
      ssh.opened.add(session);
      const route = parseRoute(location.hash);
      if (page && route.kind !== "home" && isPageRoute(route)) {
        tabs.activate(undefined);
        return;
      }
    }
    if (session) {
      closePage();
      layout.showLayer("session");
      layout.navigated();
    } else if (!page) {
      void render();
    }
  };

  function closePage(): void {
    page?.stop?.();
    page = undefined;
    layout.pageArea.replaceChildren();
  }

  function showPage(next: Page): void {
    closePage();
    page = next;
    tabs.activate(undefined);
    layout.showLayer("page");
    layout.pageArea.replaceChildren(next.element);
  }

  /** Goes to `route` (a history entry); the same route again shows it again. */
  function navigate(route: Route): void {
    const hash = formatRoute(route);
    if (location.hash === hash || (hash === "#/" && location.hash === "")) void render();
    else location.hash = hash;
  }

  function selectNetwork(id: string): void {
    const network = networks.find((n) => n.id === id);
    if (!network) return;
    if (id !== selectedId || !hosts) {
      hosts?.stop();
      selectedId = id;
      hosts = new HostsView(engine, network, {
        onSsh: (n, host) => void ssh.toNetworkHost(n, host),
        onDetails: (n) => navigate({ kind: "network-details", id: n.id }),
      });
      hosts.start();
    }
    renderNetworks();
  }

  function renderNetworks(): void {
    networksView.render(networks, selectedId, hosts?.element);
  }

  function showAccount(): void {
    const state = account?.state ?? "unavailable";
    const me = account?.state === "signed-in" ? account.me : null;
    nav.setAccount(state, me !== null && isAdminRole(me.user.role));
    accountBar.show(account);
  }

  /**
   * Shows the route of the URL once the networks and the account are known. `startup` renders
   * (not the person's navigation) leave a session in front of the home page alone: it was
   * restored after a reload.
   */
  async function render(startup = false): Promise<void> {
    if (!listed || account === null) return;
    const hash = location.hash;
    const route = parseRoute(hash);
    nav.markCurrent(route);
    if (startup && route.kind === "home" && tabs.activeSession) return;
    if (route.kind === "ssh") {
      // A mesh name resolves once the mesh has its first map (or is refused).
      if (!meshSettled) {
        showPage(pages.waiting("Joining the mesh before opening the link…"));
        return;
      }
      if (hash === handledSsh) return;
      handledSsh = hash;
      await ssh.followLink(route.link, route.net, hash);
      handledSsh = "";
      return;
    }
    if (route.kind === "network" || route.kind === "network-details") {
      if (networks.some((n) => n.id === route.id)) selectNetwork(route.id);
    }
    if (route.kind === "network" && networks.some((n) => n.id === route.id)) {
      if (!tabs.activeSession) showPage(pages.network());
      return;
    }
    const next = await pages.forRoute(route, hash);
    if (location.hash !== hash) {
      next.stop?.();
      return;
    }
    showPage(next);
    if (isPageRoute(route)) layout.navigated();
  }

  async function startAccount(): Promise<void> {
    account = await loadAccount(controlApi);
    showAccount();
    if (account.state === "signed-in") {
      // Back from a sign-in round trip: the route the page was opened with.
      const back = takeReturnRoute();
      if (back !== null && parseRoute(location.hash).kind === "home") {
        history.replaceState(null, "", `${location.pathname}${location.search}${back}`);
      }
    }
    if (account.state === "signed-in") {
      void render(true);
      await mesh.start();
    }
    meshSettled = true;
    await render(true);
  }

  async function signOutNow(): Promise<void> {
    await pages.signOut();
    if (account && account.state !== "unavailable") {
      account = { state: "signed-out", methods: account.methods };
    }
    showAccount();
    meshSettled = true;
    navigate({ kind: "mesh" });
  }

  async function refreshNetworks(): Promise<void> {
    try {
      networks = await engine.listNetworks();
    } catch (error) {
      networksView.showMessage(`Could not list networks: ${errorText(error)}`, true);
      return;
    }
    const first = !listed;
    listed = true;
    if (selectedId !== undefined && !networks.some((n) => n.id === selectedId)) {
      hosts?.stop();
      hosts = undefined;
      selectedId = undefined;
    }
    renderNetworks();
    if (first) await render(true);
  }

  window.addEventListener("hashchange", () => void render());
  void startAccount();

  return {
    setEngineStatus: (state, text) => layout.setEngineStatus(state, text),
    refreshNetworks,
  };
}
