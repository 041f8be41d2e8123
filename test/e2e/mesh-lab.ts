// The mesh lab for browser tests of issue 15 (DESIGN §5, §9.3): `corridor serve` in this process
// (the page built with the repo's vite.config.ts, the relay, the control server on one port, as
// cli/serve.ts wires them) with sign-in through a real OpenID Provider (oidc-provider on
// loopback, its dev login and consent forms filled in by Chromium like a person would); a
// policy set through the API with the owner's API key; and real `corridor agent` processes
// (userspace, identity SSH on) joined with a tagged auth key. Each agent runs in a private mount
// namespace whose /etc holds the SSH tests' account (TEST_USER, test/ssh/fixtures/test-account.ts)
// so a login as that user needs no account on the host. Everything listens on 127.0.0.1, the
// origin where the page is a secure context (WebCrypto, module workers).
//
//   const lab = await startMeshLab();                  // alice may SSH as TEST_USER, bob may not
//   const page = await (await browser.newContext()).newPage();
//   await page.goto(lab.url);
//   await lab.signIn(page, "alice");                   // the page's SSO button, then the provider
//   const { json } = await lab.admin("/api/v1/nodes"); // the owner's view
//   await lab.close();

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Provider from "oidc-provider";
import type { Page } from "playwright-core";
import { openControlStore, relayUrlOf } from "../../cli/control-flags.ts";
import { createApiKeyLocal } from "../../server/control/auth/apikeys.ts";
import {
  ControlMount,
  type ControlService,
  startControlService,
} from "../../server/control/http.ts";
import type { Store } from "../../server/control/store/types.ts";
import { createLogger } from "../../server/log.ts";
import { MetricsRegistry } from "../../server/relay/index.ts";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { CorridorProcess, corridorBin } from "../agent/agent-harness.ts";
import { chromiumPrereq } from "../helpers/chromium.ts";
import { jsonList, jsonString } from "../helpers/json.ts";
import { listenOnLoopback } from "../helpers/ports.ts";
import { check, executable, type Prereq, prereq, root } from "../helpers/prereq.ts";
import { type RunResult, run } from "../interop/wg-tools.ts";
import {
  createTestAccount,
  privateMountChecks,
  privateMountsArgv,
  TEST_USER,
} from "../ssh/fixtures/test-account.ts";
import { MESH_ACCOUNTS, signInThroughProvider } from "./mesh-provider-signin.ts";
import { openAndTokens } from "./owner-serve.ts";
import { buildPage } from "./wg-lab.ts";

export { MESH_ACCOUNTS, TEST_USER };

/**
 * The lab's default policy: every member reaches the tag:server agents' SSH port (so they are
 * listed), alice may log in there as TEST_USER and bob as nobody (his login is refused with the
 * agent's sentence); tag:db agents are reached by nobody, so no member's map lists them.
 */
export const MESH_POLICY = `{
  "tagOwners": { "tag:server": ["autogroup:admin"], "tag:db": ["autogroup:admin"] },
  "acls": [
    { "action": "accept", "src": ["autogroup:member"], "dst": ["tag:server:22"] },
  ],
  "ssh": [
    { "action": "accept", "src": ["alice@example.com"], "dst": ["tag:server"], "users": ["${TEST_USER}"] },
  ],
}`;

/** An agent to start: its host name (its mesh name) and tags. */
export interface MeshLabAgent {
  name: string;
  tags: string[];
}

/** Options of startMeshLab. */
export interface MeshLabOptions {
  /** Default: web-01 (tag:server) and db-01 (tag:db, hidden from members by MESH_POLICY). */
  agents?: MeshLabAgent[];
  /** The policy (default MESH_POLICY). */
  policy?: string;
  /** A page already built (buildPage) to serve; default: built into the lab's temp dir. */
  webRoot?: string;
  /**
   * The control server also takes the page at http://corridor.localhost:PORT (as `corridor serve`
   * on loopback does), where private URLs open. Off by default: sign-in through the provider
   * returns to 127.0.0.1, so tests that sign in stay there.
   */
  corridorLocalhost?: boolean;
  /**
   * The address `corridor serve` listens on (default 127.0.0.1): the direct-path lab
   * (direct-lab.ts) uses its veth's root end, so agents in its namespace reach it; Chromium
   * must then treat that origin as secure (--unsafely-treat-insecure-origin-as-secure).
   */
  host?: string;
  /** Runs the agents inside this network namespace (default: the test's own). */
  agentNetns?: string;
  /** The agents keep their direct paths (UDP and WebRTC); default: `--no-direct`. */
  agentDirect?: boolean;
  /**
   * The URL people (and the map's relay) use instead of serve's own ("http://HOST:PORT/"): the
   * direct-path lab puts a delaying proxy in front (delay-proxy.ts). The map names serve's own
   * relay at the page's origin, so page and relay are both behind it; agents join at serve's.
   */
  frontUrl?: string;
  /** Called with serve's own URL once it listens (the front proxy's target). */
  onServe?: (serveUrl: string) => void;
}

/** An API answer: status and parsed JSON body. */
export interface AdminReply {
  status: number;
  /** The parsed body; read it with the typed readers (jsonField, jsonString...). */
  json: unknown;
}

/** A node as GET /api/v1/nodes shows it (the fields tests read). */
export interface LabNode {
  id: number;
  name: string;
  hostname: string;
  os: string;
  userId: number | null;
  tags: string[];
  ephemeral: boolean;
  addresses: string[];
}

/** A node of a GET /api/v1/nodes answer, its fields checked (throws naming what is wrong). */
function labNode(n: Record<string, unknown>): LabNode {
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");
  if (
    typeof n.id !== "number" ||
    typeof n.name !== "string" ||
    typeof n.hostname !== "string" ||
    typeof n.os !== "string" ||
    !(n.userId === null || typeof n.userId === "number") ||
    !strings(n.tags) ||
    typeof n.ephemeral !== "boolean" ||
    !strings(n.addresses)
  ) {
    throw new Error(`mesh lab: a node of /api/v1/nodes is not as expected: ${JSON.stringify(n)}`);
  }
  return n as unknown as LabNode;
}

/** A running lab. */
export interface MeshLab {
  /** The page's URL, "http://127.0.0.1:PORT/". */
  url: string;
  /** The page's origin, "http://127.0.0.1:PORT". */
  origin: string;
  /** The OpenID Provider's issuer URL. */
  issuer: string;
  serve: ServeHandle;
  store: Store;
  /** The control server (its meshChanges tell the map side what a test changed in the store). */
  control: ControlService;
  /** The agents' mesh names, in start order. */
  agentNames: string[];
  /** TEST_USER's home as the agents see it (owned by that user): files for SFTP tests. */
  accountHome: string;
  /** An agent's local socket, for `corridor status|ping|ssh` (CORRIDOR_SOCKET) from it. */
  agentSocket(name: string): string;
  /** The owner's API key (capi_...), for `corridor admin` (CORRIDOR_API_KEY). */
  apiKey: string;
  /** Calls the API as the owner (Bearer API key); `path` like "/api/v1/nodes". */
  admin(path: string, init?: { method?: string; body?: unknown }): Promise<AdminReply>;
  /** GET /api/v1/nodes as the owner. */
  nodes(): Promise<LabNode[]>;
  /** Runs the real `corridor admin --server URL ARGS` with the owner's API key. */
  corridorAdmin(args: string[]): Promise<RunResult>;
  /**
   * Signs `account` in from `page`, which shows the page's sign-in view: clicks its SSO button
   * (or with `direct`, opens /login/oidc?return=PATH itself), fills the provider's login and
   * consent forms, and resolves once the browser is back on the page's origin. With `started`,
   * the page has already gone to the provider by itself (a check rule's fresh sign-in).
   */
  signIn(
    page: Page,
    account: string,
    options?: { direct?: string; started?: boolean },
  ): Promise<void>;
  /** What the control server and relay logged at warn and above (JSON lines). */
  log: string[];
  /** Stops the agents, the server, the provider; removes the temp dir. */
  close(): Promise<void>;
}

/** What the lab needs: Chromium, root (agents switch to TEST_USER), the private mounts. */
export function meshLabPrereq(...more: Prereq[]): Prereq {
  return prereq(
    ...[chromiumPrereq(), prereq(root(), executable("/usr/bin/setpriv"), ...privateMountChecks())]
      .concat(more)
      .flatMap((p) => p.missing)
      .map((what) => check(what, false)),
  );
}

const CLIENT_ID = "corridor-mesh-lab";
const CLIENT_SECRET = "a-client-secret-for-the-mesh-lab-only";

/** Starts the provider, `corridor serve` with OIDC, the policy and the agents. */
export async function startMeshLab(options: MeshLabOptions = {}): Promise<MeshLab> {
  const agentsWanted = options.agents ?? [
    { name: "web-01", tags: ["tag:server"] },
    { name: "db-01", tags: ["tag:db"] },
  ];
  const tmp = mkdtempSync(join(tmpdir(), "corridor-mesh-lab-"));
  // TEST_USER's home lies below: the user must be able to pass through (not list) it.
  chmodSync(tmp, 0o711);
  const cleanup: (() => Promise<unknown> | unknown)[] = [
    () => rmSync(tmp, { recursive: true, force: true }),
  ];
  const close = async () => {
    for (const fn of cleanup.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // Teardown goes on: the next step may still free what this one could not.
      }
    }
  };
  try {
    const webRoot = options.webRoot ?? (await buildPage(tmp));

    // The provider's HTTP server first: its issuer URL goes into the control server's flags.
    const idp: HttpServer = createServer();
    const issuer = `http://127.0.0.1:${await listenOnLoopback(idp)}`;
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          idp.close(() => resolve());
          idp.closeAllConnections();
        }),
    );

    // As cli/serve.ts: the store, the relay (open, and the control server's tokens), the mount.
    const { store, tokenPublicKey } = await openControlStore(join(tmp, "control.db"));
    cleanup.push(() => store.close());
    const log: string[] = [];
    const logger = createLogger({ level: "warn", sink: (line) => log.push(line) });
    const metrics = new MetricsRegistry();
    const mount = new ControlMount();
    const serve = await startServe({
      port: 0,
      host: options.host,
      webRoot,
      mount,
      relay: {
        auth: openAndTokens(tokenPublicKey),
        relayId: "mesh-lab",
        ...(options.frontUrl === undefined ? {} : { origins: [new URL(options.frontUrl).origin] }),
        metrics,
        logger,
      },
    });
    cleanup.push(() => serve.close());
    options.onServe?.(serve.url);
    const url = options.frontUrl ?? serve.url;
    const origin = new URL(url).origin;

    // The provider knows our callback, which names the port serve got.
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [new URL("/login/oidc/callback", url).href],
          grant_types: ["authorization_code"],
          response_types: ["code"],
          token_endpoint_auth_method: "client_secret_basic",
        },
      ],
      findAccount: (_ctx, id) => {
        const claims = MESH_ACCOUNTS[id];
        return claims === undefined
          ? undefined
          : {
              accountId: id,
              claims: () => ({ sub: id, ...claims, email_verified: true }),
            };
      },
      claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
      cookies: { keys: ["mesh-lab-cookie-key"] },
      features: { devInteractions: { enabled: true } },
      pkce: { required: () => true },
      ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
    });
    idp.on("request", provider.callback());
    const secretFile = join(tmp, "client-secret");
    writeFileSync(secretFile, `${CLIENT_SECRET}\n`, { mode: 0o600 });

    const control: ControlService = await startControlService(mount, {
      store,
      ...(options.corridorLocalhost === true
        ? { browserOrigins: [`http://corridor.localhost:${serve.port}`] }
        : {}),
      relays: [
        {
          id: "mesh-lab",
          region: "local",
          url: relayUrlOf(url),
          key: keyToBase64(serve.relay.relayPublicKey),
        },
      ],
      baseUrl: url,
      oidc: { issuer, clientId: CLIENT_ID, clientSecretFile: secretFile },
      metrics,
      log: logger,
    });
    // Before serve.close() (registered earlier, so run later): the map streams close first.
    cleanup.push(() => control.close());

    // The owner, as `corridor admin apikey create --data DIR` makes them, and their key.
    const owner = await store.createUser({
      issuer: "corridor:local",
      subject: "owner",
      email: "owner@example.com",
      name: "owner",
      role: "owner",
      lastLoginAt: null,
    });
    const apiKey = (await createApiKeyLocal(store, owner.id)).key;
    const admin = async (
      path: string,
      init: { method?: string; body?: unknown } = {},
    ): Promise<AdminReply> => {
      const res = await fetch(new URL(path, url), {
        method: init.method ?? "GET",
        headers: {
          authorization: `Bearer ${apiKey}`,
          ...(init.body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      const text = await res.text();
      return { status: res.status, json: text === "" ? null : JSON.parse(text) };
    };
    const policy = await admin("/api/v1/policy", {
      method: "PUT",
      body: { text: options.policy ?? MESH_POLICY },
    });
    if (policy.status !== 200) {
      throw new Error(`mesh lab: the policy was refused: ${JSON.stringify(policy.json)}`);
    }

    // The agents: identity SSH on, in a private mount namespace whose /etc has TEST_USER.
    const account = createTestAccount(mkdtempSync(join(tmp, "account-")));
    cleanup.push(() => account.release());
    // privateMountsArgv(...) ends with the command; CorridorProcess appends node and corridor.
    const wrap = privateMountsArgv("node", [], { etcFiles: account.etcFiles }).slice(0, -1);
    const agentNames: string[] = [];
    for (const spec of agentsWanted) {
      const key = await admin("/api/v1/authkeys", { method: "POST", body: { tags: spec.tags } });
      if (key.status !== 201) {
        throw new Error(`mesh lab: auth key for ${spec.name}: ${JSON.stringify(key.json)}`);
      }
      const agent = new CorridorProcess(
        [
          "agent",
          ...["--server", new URL(serve.url).origin],
          ...["--hostname", spec.name, "--state", join(tmp, spec.name)],
          ...(options.agentDirect === true ? [] : ["--no-direct"]),
        ],
        {
          env: { CORRIDOR_AUTH_KEY: jsonString(key.json, "key") },
          wrap,
          netns: options.agentNetns,
        },
      );
      cleanup.push(() => agent.stop("SIGKILL"));
      const joined = await agent.waitFor(/joined \S+ as (\S+) \(/);
      agentNames.push(joined[1]!);
    }

    const nodes = async (): Promise<LabNode[]> => {
      const reply = await admin("/api/v1/nodes");
      if (reply.status !== 200) throw new Error(`nodes: ${JSON.stringify(reply.json)}`);
      return jsonList(reply.json, "nodes").map(labNode);
    };

    return {
      url,
      origin,
      issuer,
      serve,
      store,
      control,
      agentNames,
      accountHome: account.home,
      agentSocket: (name) => join(tmp, name, "agent.sock"),
      apiKey,
      admin,
      nodes,
      corridorAdmin: (args) =>
        run(
          [
            "env",
            `CORRIDOR_API_KEY=${apiKey}`,
            process.execPath,
            corridorBin,
            "admin",
            "--server",
            url,
            ...args,
          ],
          { timeoutMs: 30_000 },
        ),
      signIn: (page, accountId, signInOptions = {}) =>
        signInThroughProvider(page, accountId, origin, issuer, signInOptions),
      log,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
