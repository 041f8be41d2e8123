// What the main area shows for each route: home, the mesh's hosts and a host's details, the
// sign-in page, a wg-quick network's details, Add network, the admin views, and messages for
// what cannot be shown (with the reason).

import { MESH_NETWORK_ID, type NetworkSummary } from "../../worker/api.ts";
import { type ControlApi, isAdminRole } from "../control-api.ts";
import { errorText, h } from "../dom.ts";
import type { Engine } from "../engine.ts";
import type { Route } from "../router.ts";
import { addNetworkView } from "../views/add-network.ts";
import { DetailsView } from "../views/details.ts";
import { homeView, messageView } from "../views/home.ts";
import { MeshHostView } from "../views/mesh-host.ts";
import { MeshHostsView } from "../views/mesh-hosts.ts";
import { signInView } from "../views/sign-in.ts";
import { type Account, signOut } from "./account.ts";
import { loadAdminView } from "./admin-route.ts";
import { appsPlace } from "./app-links.ts";
import type { MeshWatch } from "./mesh-watch.ts";
import { hostServices } from "./services-store.ts";
import type { SshLauncher } from "./ssh.ts";

/** A view in the main area; stop() ends what it follows (timers, subscriptions). */
export interface Page {
  element: HTMLElement;
  stop?: () => void;
}

export interface PagesDeps {
  engine: Engine;
  api: ControlApi;
  mesh: MeshWatch;
  ssh: SshLauncher;
  account(): Account | null;
  /** Why the person is asked to sign in again (their session ended), or "". */
  signInReason(): string;
  networks(): NetworkSummary[];
  navigate(route: Route): void;
  refreshNetworks(): Promise<void>;
  /** The network shown in the sidebar is gone. */
  forgetSelection(): void;
}

export class Pages {
  constructor(private readonly deps: PagesDeps) {}

  /** #/: the mesh's hosts when signed in, the sign-in when signed out, else the welcome. */
  home(): Page {
    const account = this.deps.account();
    if (account?.state === "signed-in") return this.meshHosts();
    if (account?.state === "signed-out") return this.signIn("#/", this.deps.signInReason());
    return {
      element: homeView(this.deps.networks().length > 0, () =>
        this.deps.navigate({ kind: "network-add" }),
      ),
    };
  }

  /** #/network/ID with no session in front: the network is open in the sidebar. */
  network(): Page {
    return { element: homeView(true, () => this.deps.navigate({ kind: "network-add" })) };
  }

  signIn(returnHash: string, reason: string): Page {
    const account = this.deps.account();
    if (account === null || account.state === "unavailable") return this.noMesh(account);
    return {
      element: signInView({
        methods: account.methods,
        returnHash,
        reason,
        onAddNetwork: () => this.deps.navigate({ kind: "network-add" }),
      }),
    };
  }

  waiting(text: string): Page {
    return {
      element: h(
        "section",
        { class: "page home", testid: "waiting" },
        h("div", { class: "welcome" }, h("p", { class: "lead", text })),
      ),
    };
  }

  /** Ends the mesh node, then the web session. */
  async signOut(): Promise<void> {
    await this.deps.mesh.stop().catch(() => undefined);
    await signOut(this.deps.api).catch(() => undefined);
  }

  async forRoute(route: Route, hash: string): Promise<Page> {
    const account = this.deps.account();
    switch (route.kind) {
      case "home":
        return this.home();
      case "mesh":
      case "mesh-host":
        if (account?.state !== "signed-in") return this.signIn(hash, this.deps.signInReason());
        return route.kind === "mesh" ? this.meshHosts() : this.meshHost(route.name);
      case "network-add":
        return this.addNetwork();
      case "network":
      case "network-details":
        return this.details(route.id);
      case "admin":
        return this.admin(route.section, hash);
      case "shares":
        if (account?.state !== "signed-in") return this.signIn(hash, this.deps.signInReason());
        return this.shares();
      case "invalid":
        return {
          element: messageView(
            "That link is not valid",
            hash.startsWith("#/ssh/")
              ? `Expected #/ssh/USER@HOST or #/ssh/USER@HOST:PORT, got ${route.hash}.`
              : `${route.reason}: ${route.hash}.`,
            "deeplink-message",
          ),
        };
      case "ssh":
        return this.home();
    }
  }

  private noMesh(account: Account | null): Page {
    const detail = account?.state === "unavailable" ? ` (${account.detail})` : "";
    return {
      element: messageView(
        "No mesh here",
        `This page has no control server to sign in to${detail}. WireGuard networks work without one: add one from the sidebar.`,
        "no-mesh",
      ),
    };
  }

  private meshHosts(): Page {
    const view = new MeshHostsView(this.deps.mesh, {
      ssh: (host) => void this.deps.ssh.toMeshHost(host),
    });
    return { element: view.element, stop: () => view.stop() };
  }

  private meshHost(name: string): Page {
    const account = this.deps.account();
    const apps = appsPlace(
      window.location,
      account?.state === "signed-in" ? account.methods.appsDomain : undefined,
    );
    const view = new MeshHostView(
      this.deps.engine,
      this.deps.mesh,
      name,
      (host) => void this.deps.ssh.toMeshHost(host),
      apps,
      account?.state === "signed-in"
        ? {
            // The node's owner or an admin may share it (the server decides again).
            may: (host) =>
              isAdminRole(account.me.user.role) ||
              (host.owner !== null && host.owner.id === account.me.user.id),
            share: (host) =>
              // Loaded on first use: sharing is outside the page's first load.
              void import("../dialogs/share-create.ts").then(({ openShareDialog }) =>
                openShareDialog(this.deps.api, host, hostServices(MESH_NETWORK_ID, host.name)),
              ),
          }
        : undefined,
    );
    return { element: view.element, stop: () => view.stop() };
  }

  /** #/shares, loaded on first use. */
  private async shares(): Promise<Page> {
    const { SharesView } = await import("../views/shares-list.ts");
    const view = new SharesView(this.deps.api);
    return { element: view.element, stop: () => view.stop() };
  }

  private addNetwork(): Page {
    return {
      element: addNetworkView(this.deps.engine, (network) => {
        void this.deps.refreshNetworks().then(() => {
          this.deps.navigate({ kind: "network", id: network.id });
        });
      }),
    };
  }

  private details(id: string): Page {
    const network = this.deps.networks().find((n) => n.id === id);
    if (!network) {
      return {
        element: messageView(
          "No such network",
          `This browser has no network with id ${id}: it was removed, or the link comes from another browser.`,
          "network-missing",
        ),
      };
    }
    const view = new DetailsView(this.deps.engine, network, () => {
      this.deps.forgetSelection();
      void this.deps.refreshNetworks().then(() => this.deps.navigate({ kind: "home" }));
    });
    view.start();
    return { element: view.element, stop: () => view.stop() };
  }

  private async admin(section: Parameters<typeof loadAdminView>[0], hash: string): Promise<Page> {
    const account = this.deps.account();
    if (account?.state !== "signed-in") return this.signIn(hash, this.deps.signInReason());
    if (!isAdminRole(account.me.user.role)) {
      return {
        element: messageView(
          "Admins only",
          `The admin views need the admin or owner role; you are ${account.me.user.role}.`,
          "admin-refused",
        ),
      };
    }
    try {
      return await loadAdminView(section, this.deps.api, account.me);
    } catch (error) {
      return {
        element: messageView("The admin view did not load", errorText(error), "admin-error"),
      };
    }
  }
}
