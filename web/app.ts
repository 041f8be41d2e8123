// The page: header, a sidebar of networks and their hosts, and a main area with terminal tabs
// (or a page: welcome, add network, a network's details). The engine is injected, so views can
// be checked against a fake engine in development.

import type { HostEntry, NetworkSummary } from "../worker/api.ts";
import { installDebugHooks } from "./debug.ts";
import { findNetworkFor } from "./deep-link.ts";
import { confirmDeepLink } from "./dialogs/deep-link-confirm.ts";
import { openSettings } from "./dialogs/settings.ts";
import { askSshTarget } from "./dialogs/ssh-connect.ts";
import { openSshKeys } from "./dialogs/ssh-keys.ts";
import { button, errorText, h, replace } from "./dom.ts";
import type { Engine } from "./engine.ts";
import { parseSshLink } from "./router.ts";
import { applyPageTheme } from "./settings.ts";
import { addNetworkView } from "./views/add-network.ts";
import { DetailsView } from "./views/details.ts";
import { homeView, messageView } from "./views/home.ts";
import { HostsView } from "./views/hosts.ts";
import { NetworksView } from "./views/networks.ts";
import { TerminalTabs } from "./views/terminal-tabs.ts";

export interface App {
  setEngineStatus(state: "ready" | "error", text: string): void;
  /** Lists networks (after the engine is up) and follows a deep link if there is one. */
  refreshNetworks(): Promise<void>;
}

interface Page {
  element: HTMLElement;
  stop?: () => void;
}

export function createApp(root: HTMLElement, engine: Engine): App {
  applyPageTheme();
  let networks: NetworkSummary[] = [];
  let listed = false;
  let selectedId: string | undefined;
  let hosts: HostsView | undefined;
  let page: Page | undefined;
  let handledHash = "";
  let firstLink = true;

  const status = h("p", {
    class: "engine-status",
    testid: "engine-status",
    text: "Starting the engine…",
    attrs: { id: "engine-status", role: "status" },
  });
  const shell = h("div", { class: "app", data: { sidebar: "open" } });
  const toggleSidebar = (open?: boolean) => {
    shell.dataset.sidebar = (open ?? shell.dataset.sidebar !== "open") ? "open" : "closed";
  };
  const header = h(
    "header",
    { class: "app-header" },
    button("☰", () => toggleSidebar(), {
      class: "ghost icon menu-toggle",
      testid: "menu-toggle",
      attrs: { "aria-label": "Show or hide the sidebar" },
    }),
    h(
      "span",
      { class: "brand" },
      h("span", { class: "brand-mark", attrs: { "aria-hidden": "true" } }),
      "Corridor",
    ),
    status,
    h(
      "div",
      { class: "header-actions" },
      button("SSH keys", () => void openSshKeys(engine), { class: "ghost", testid: "keys-button" }),
      button("Settings", () => void openSettings(), { class: "ghost", testid: "settings-button" }),
    ),
  );

  const tabs = new TerminalTabs(engine);
  const pageArea = h("div", { class: "page-area" });
  const networksView = new NetworksView({
    onSelect: (network) => selectNetwork(network.id),
    onAdd: () => showAddNetwork(),
  });
  const sidebar = h("aside", { class: "sidebar" }, networksView.element);
  const main = h("main", { class: "main" }, tabs.strip, pageArea, tabs.panels);
  replace(root, shell);
  shell.append(header, sidebar, main);
  installDebugHooks(tabs);

  tabs.onActiveChange = (session) => {
    if (session) {
      closePage();
      pageArea.hidden = true;
      if (matchMedia("(max-width: 760px)").matches) toggleSidebar(false);
    } else if (!page) {
      showHome();
    }
  };

  function closePage(): void {
    page?.stop?.();
    page = undefined;
    replace(pageArea);
  }

  function showPage(next: Page): void {
    closePage();
    page = next;
    tabs.activate(undefined);
    pageArea.hidden = false;
    replace(pageArea, next.element);
  }

  function showHome(): void {
    showPage({ element: homeView(networks.length > 0, showAddNetwork) });
  }

  function showAddNetwork(): void {
    showPage({
      element: addNetworkView(engine, (network) => {
        void refreshNetworks().then(() => {
          selectNetwork(network.id);
          showHome();
        });
      }),
    });
  }

  function showDetails(network: NetworkSummary): void {
    const view = new DetailsView(engine, network, () => {
      selectedId = undefined;
      void refreshNetworks().then(showHome);
    });
    showPage({ element: view.element, stop: () => view.stop() });
    view.start();
  }

  function selectNetwork(id: string): void {
    const network = networks.find((n) => n.id === id);
    if (!network) return;
    if (id !== selectedId || !hosts) {
      hosts?.stop();
      selectedId = id;
      hosts = new HostsView(engine, network, {
        onSsh: (n, host) => void sshTo(n, host),
        onDetails: showDetails,
      });
      hosts.start();
    }
    renderNetworks();
  }

  function renderNetworks(): void {
    networksView.render(networks, selectedId, hosts?.element);
  }

  async function sshTo(network: NetworkSummary, host: HostEntry): Promise<void> {
    const target = await askSshTarget(engine, network.id, host.address, host.name || host.address);
    if (!target) return;
    tabs.open({
      networkId: network.id,
      networkName: network.name,
      host: host.address,
      port: target.port,
      user: target.user,
      keyIds: target.keyIds,
    });
  }

  /** Takes a handled link out of the address bar, so the same link works again. */
  function clearLink(): void {
    history.replaceState(null, "", `${location.pathname}${location.search}`);
    handledHash = "";
  }

  /** The site that linked here, for the confirmation (only true for the page's first link). */
  function linkingOrigin(): string {
    if (!firstLink) return "";
    firstLink = false;
    try {
      return document.referrer ? new URL(document.referrer).origin : "";
    } catch {
      return "";
    }
  }

  async function followDeepLink(): Promise<void> {
    const hash = location.hash;
    if (!listed || hash === handledHash) return;
    handledHash = hash;
    const link = parseSshLink(hash);
    if (!link) {
      if (hash.startsWith("#/ssh/")) {
        showPage({
          element: messageView(
            "That link is not valid",
            `Expected #/ssh/USER@HOST or #/ssh/USER@HOST:PORT, got ${hash}.`,
            "deeplink-message",
          ),
        });
      }
      return;
    }
    const from = linkingOrigin();
    const found = await findNetworkFor(engine, networks, link.host);
    if (!found) {
      showPage({
        element: messageView(
          `No network reaches ${link.host}`,
          networks.length === 0
            ? "This browser has no networks yet. Add the network that host is on, then open the link again."
            : `None of this browser's networks lists ${link.host} as a host or routes it in a peer's allowed IPs. Add the host to a network, then open the link again.`,
          "deeplink-message",
        ),
      });
      return;
    }
    // A link from any site: nothing starts (not even the network) until the person confirms.
    const hostName =
      (await engine.listHosts(found.network.id).catch(() => [])).find(
        (h) => h.address === found.address,
      )?.name ?? "";
    const confirmed = await confirmDeepLink(engine, {
      network: found.network,
      host: found.address,
      hostName,
      user: link.user,
      port: link.port,
      from,
    });
    clearLink();
    if (!confirmed) return;
    selectNetwork(found.network.id);
    tabs.open({
      networkId: found.network.id,
      networkName: found.network.name,
      host: found.address,
      port: link.port,
      user: link.user,
      keyIds: confirmed.keyIds,
    });
  }

  async function refreshNetworks(): Promise<void> {
    try {
      networks = await engine.listNetworks();
      listed = true;
    } catch (error) {
      networksView.showMessage(`Could not list networks: ${errorText(error)}`, true);
      return;
    }
    if (selectedId !== undefined && !networks.some((n) => n.id === selectedId)) {
      hosts?.stop();
      hosts = undefined;
      selectedId = undefined;
    }
    renderNetworks();
    if (!tabs.activeSession && (!page || page.element.dataset.testid === "home")) showHome();
    await followDeepLink();
  }

  window.addEventListener("hashchange", () => void followDeepLink());
  showHome();

  return {
    setEngineStatus(state, text) {
      status.dataset.state = state;
      status.textContent = text;
      status.title = text;
    },
    refreshNetworks,
  };
}
