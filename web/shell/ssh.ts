// Opening SSH sessions: to a host of a wg-quick network (user, port, keys), to a mesh host
// (identity SSH: a user the policy allows, no keys, host key from the map), and from a
// #/ssh/USER@HOST link (confirmed first: any site can link here). A mesh host's `check` rule
// offers the person a fresh sign-in (asked every time, and only when the control server says
// a check rule grants that user there) and comes back to the same #/ssh/ route.

import {
  type HostEntry,
  MESH_NETWORK_ID,
  type MeshHost,
  type NetworkSummary,
} from "../../worker/api.ts";
import type { ControlApi } from "../control-api.ts";
import { findNetworkFor } from "../deep-link.ts";
import { confirmDeepLink } from "../dialogs/deep-link-confirm.ts";
import { openDialog } from "../dialogs/dialog.ts";
import { askMeshSshTarget, askSshTarget } from "../dialogs/ssh-connect.ts";
import { h } from "../dom.ts";
import type { Engine } from "../engine.ts";
import { formatRoute, type SshLink } from "../router.ts";
import type { SessionTarget, TerminalSession } from "../terminal/session.ts";
import type { TerminalTabs } from "../views/terminal-tabs.ts";
import { checkRuleApplies, leavingText } from "./check-offer.ts";
import type { MeshWatch } from "./mesh-watch.ts";
import { returnPath, saveReturnRoute } from "./return-route.ts";

/** The mesh as a network in dialogs and tab labels. */
export const MESH_NETWORK = { id: MESH_NETWORK_ID, name: "Mesh" } as const;

export interface SshDeps {
  engine: Engine;
  api: ControlApi;
  tabs: TerminalTabs;
  mesh: MeshWatch;
  networks(): NetworkSummary[];
  /** Signed out of a control server that exists (a mesh name may need a sign-in first). */
  signedOut(): boolean;
  selectNetwork(id: string): void;
  showMessage(title: string, text: string): void;
  showSignIn(returnHash: string): void;
}

export class SshLauncher {
  /** The tabs this page opened (others were restored from the engine after a reload). */
  readonly opened = new WeakSet<TerminalSession>();
  /** True while this page opens a tab (its activation is the person's doing). */
  opening = false;
  private firstLink = true;

  constructor(private readonly deps: SshDeps) {}

  /** "SSH" on a host of a wg-quick network. */
  async toNetworkHost(network: NetworkSummary, host: HostEntry): Promise<void> {
    const { engine } = this.deps;
    const target = await askSshTarget(engine, network.id, host.address, host.name || host.address);
    if (!target) return;
    this.open({
      networkId: network.id,
      networkName: network.name,
      host: host.address,
      port: target.port,
      user: target.user,
      keyIds: target.keyIds,
    });
  }

  private open(target: SessionTarget): TerminalSession {
    this.opening = true;
    try {
      const session = this.deps.tabs.open(target);
      this.opened.add(session);
      return session;
    } finally {
      this.opening = false;
    }
  }

  /** "SSH" on a mesh host: the policy's users, identity SSH. */
  async toMeshHost(host: MeshHost): Promise<void> {
    const target = await askMeshSshTarget(this.deps.api, host);
    if (target) this.openMesh(host.name, target.user, 22);
  }

  /** A session to a mesh host: keyless, host key from the map. */
  openMesh(name: string, user: string, port: number): TerminalSession {
    const session = this.open({
      networkId: MESH_NETWORK.id,
      networkName: MESH_NETWORK.name,
      host: name,
      port,
      user,
      keyIds: [],
    });
    session.onSignInRequired = (checkUrl, message) =>
      void this.signInAgain(session, { user, host: name, port }, checkUrl, message);
    session.onOtherUser = () => void this.otherUser(name);
    return session;
  }

  /** "Other user" after the host refused the login: the SSH dialog for that host again. */
  private async otherUser(name: string): Promise<void> {
    const host = this.deps.mesh.find(name);
    if (host === undefined) {
      this.deps.showMessage(
        `${name} is not listed`,
        `The mesh does not list ${name} now (offline and removed, or the policy hides it).`,
      );
      return;
    }
    await this.toMeshHost(host);
  }

  /**
   * A refusal naming the sign-in check: the engine's check URL (built from the control
   * server's address, never taken from the host's banner) must be this page's own; the control
   * server must say a `check` rule grants this user on this host (else any host could send
   * people to a sign-in: the refusal then stays a plain one in the closed panel); and the
   * person is always asked before the page leaves. Then the session's route is remembered and
   * the page comes back to it after the sign-in.
   */
  private async signInAgain(
    asking: TerminalSession,
    link: SshLink,
    checkUrl: string,
    message: string,
  ): Promise<void> {
    let url: URL;
    try {
      url = new URL(checkUrl);
    } catch {
      return;
    }
    if (url.origin !== location.origin || url.pathname !== "/login/check") return;
    const host = this.deps.mesh.find(link.host);
    if (host === undefined || !(await checkRuleApplies(this.deps.api, host.id, link.user))) return;
    const shared = await this.deps.engine
      .status()
      .then((s) => s.shared)
      .catch(() => false);
    const go = await openDialog<boolean>({
      title: `Sign in again for ${host.name}`,
      testid: "signin-required-dialog",
      submitTestid: "signin-again",
      body: [
        h("p", {
          text: `${host.name} lets you log in as ${link.user} only after a fresh sign-in. The server says:`,
        }),
        h("p", { class: "dialog-text", testid: "signin-required-message", text: message }),
        h("p", { text: leavingText(shared) }),
      ],
      submitLabel: "Sign in again",
      cancelLabel: "Cancel",
      onSubmit: () => true,
    });
    // The tab may have been closed or reconnected while the dialog was open.
    if (!go || !this.deps.tabs.sessions.includes(asking)) return;
    const route = formatRoute({ kind: "ssh", link, net: null });
    saveReturnRoute(route);
    location.assign(`${url.pathname}?return=${encodeURIComponent(returnPath(route))}`);
  }

  /** The site that linked here, for the confirmation (only for the page's first link). */
  private linkingOrigin(): string {
    if (!this.firstLink) return "";
    this.firstLink = false;
    try {
      return document.referrer ? new URL(document.referrer).origin : "";
    } catch {
      return "";
    }
  }

  /** Follows #/ssh/USER@HOST[?net=ID]: finds the host, asks the person, then connects. */
  async followLink(link: SshLink, net: string | null, hash: string): Promise<void> {
    const { engine, mesh } = this.deps;
    const from = this.linkingOrigin();
    const networks = this.deps.networks();
    const meshHost = net === null ? mesh.find(link.host) : undefined;
    if (meshHost !== undefined) {
      const confirmed = await confirmDeepLink(engine, {
        network: MESH_NETWORK,
        keyless: true,
        host: meshHost.name,
        hostName: "",
        user: link.user,
        port: link.port,
        from,
      });
      clearLink();
      if (confirmed) this.openMesh(meshHost.name, link.user, link.port);
      return;
    }
    const candidates = net === null ? networks : networks.filter((n) => n.id === net);
    const found = await findNetworkFor(engine, candidates, link.host);
    if (!found) {
      if (net === null && this.deps.signedOut()) {
        this.deps.showSignIn(hash);
        return;
      }
      this.deps.showMessage(
        `No network reaches ${link.host}`,
        net !== null && candidates.length === 0
          ? `This browser has no network with id ${net}.`
          : networks.length === 0 && mesh.status.state !== "ready"
            ? "This browser has no networks yet. Sign in to the mesh, or add the network that host is on, then open the link again."
            : `Neither the mesh nor this browser's networks list ${link.host} as a host (a network also counts when a peer's allowed IPs route it). Check the name, or add the host to a network, then open the link again.`,
      );
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
    this.deps.selectNetwork(found.network.id);
    this.open({
      networkId: found.network.id,
      networkName: found.network.name,
      host: found.address,
      port: link.port,
      user: link.user,
      keyIds: confirmed.keyIds,
    });
  }
}

/** Takes a handled link out of the address bar (no hashchange), so the same link works again. */
export function clearLink(): void {
  history.replaceState(null, "", `${location.pathname}${location.search}`);
}
