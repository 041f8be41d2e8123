// The control server's map side, composed: settings from the store (made at first start),
// the policy in force, the mapper loaded with every user and node, the hub of attached
// streams, registration, approvals, and the `/control` WebSocket. The HTTP server that serves
// the page, the relay and the API (`corridor serve`, `corridor control`) calls handleUpgrade
// for upgrades on /control and builds the API from `apiDeps`.

import { createHash } from "node:crypto";
import type { Hono } from "hono";
import type { Logger } from "pino";
import { CONTROL_PATH } from "../../worker/control/messages.ts";
import type { RelayInfo } from "../../worker/control/types.ts";
import type { CryptoCore } from "../../worker/crypto/core.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import type { X25519Provider } from "../../worker/crypto/x25519.ts";
import { nodeX25519 } from "../crypto/x25519-node.ts";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { parseOrigin } from "../relay/origins.ts";
import { createApi } from "./api/app.ts";
import type { ApiDeps, ApiEnv } from "./api/deps.ts";
import { ApprovalDesk } from "./approvals.ts";
import type { RateLimitOptions } from "./auth/rate-limit.ts";
import type { SessionUser } from "./auth/sessions.ts";
import type { MeshChanges } from "./changes.ts";
import { restoreCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import {
  type Cluster,
  type ClusterJoin,
  type ClusterOptions,
  type HubCluster,
  joinCluster,
} from "./cluster/index.ts";
import { type LoneTrim, startLoneTrim } from "./cluster/lone-trim.ts";
import type { Readiness } from "./health.ts";
import { Hub } from "./hub.ts";
import { Mapper } from "./mapper/mapper.ts";
import type { OutboxLimits } from "./mapper/outbox.ts";
import { MapSideChanges } from "./mesh-changes.ts";
import { ControlMetrics } from "./metrics.ts";
import { compilePolicy } from "./policy/compile.ts";
import { type CompileFn, PolicyHolder } from "./policy-holder.ts";
import { Registrar } from "./registration.ts";
import { startShareExpiry } from "./shares/expiry-job.ts";
import { ShareService } from "./shares/service.ts";
import { SignalRouter } from "./signals.ts";
import { type Clock, systemClock } from "./state/clock.ts";
import { loadOrInitSettings } from "./store/settings.ts";
import type { MeshSettings, Store } from "./store/types.ts";
import { ControlStream } from "./stream.ts";
import { RelayTokens, tokenRelayOf } from "./tokens.ts";

/** What startControl needs. */
export interface ControlOptions {
  store: Store;
  /**
   * The relays nodes use (ids unique): tokens name the one relay's id, or "*" (any relay of
   * the mesh) when there are several; nodes' reported home relays must be one of these ids.
   */
  relays: RelayInfo[];
  /** The server's URL as browsers reach it ("https://corridor.example.com/"). */
  baseUrl: string;
  /** Browser origins that may open /control (default: the origin of baseUrl). */
  origins?: string[];
  /** The signed-in user of an upgrade's session cookie (auth/sessions.ts createSessionUser). */
  sessionUser?: SessionUser;
  clock?: Clock;
  crypto?: CryptoCore;
  x25519?: X25519Provider;
  /** The policy compiler (default policy/compile.ts). */
  compile?: CompileFn;
  tokenLifetimeMs?: number;
  keepaliveMs?: number;
  ephemeralGraceMs?: number;
  loginTimeoutMs?: number;
  userKeyExpiryMs?: number;
  registrationRate?: RateLimitOptions;
  outbox?: OutboxLimits;
  ringSize?: number;
  log?: Logger;
  /** Where the map side's metrics go (corridor serve shares one registry with the relay). */
  metrics?: MetricsRegistry;
  /**
   * The server's /readyz (health.ts); the map side adds its own checks to it (the change
   * follower: "changes caught up"). The database check is added by whoever made it.
   */
  readiness?: Readiness;
  /**
   * Several control servers on one PostgreSQL (cluster/): on by default when the store is
   * PostgreSQL (its URL), `false` to run alone on it.
   */
  cluster?: Omit<ClusterOptions, "connectionString"> | false;
  /** The API's own options (sign-in through an OpenID Provider, rate limits, error sink). */
  api?: Pick<
    ApiDeps,
    "oidc" | "loginRateLimit" | "onInternalError" | "browserOrigins" | "appsDomain"
  >;
}

/** The running map side. */
export interface Control {
  /** For the HTTP server's "upgrade" event when the path is CONTROL_PATH. */
  handleUpgrade: ControlStream["handleUpgrade"];
  /** What the API and sign-in call after committing a change. */
  meshChanges: MeshChanges;
  approvals: ApprovalDesk;
  policy: PolicyHolder;
  settings: MeshSettings;
  /** The Ed25519 public key relays verify tokens with. */
  tokenPublicKey: Uint8Array;
  /** The hello's X25519 public key (base64). */
  helloPublicKey: string;
  /** The HTTP API (api/app.ts) on this map side: mount with createApiListener(api). */
  api: Hono<ApiEnv>;
  mapper: Mapper;
  hub: Hub;
  stream: ControlStream;
  /** This server's membership of several on one PostgreSQL, if it is one. */
  cluster?: Cluster;
  /**
   * Closes every stream (1012), stops the timers and writes the map checkpoint (checkpoint.ts)
   * so that the next start resumes the sessions; the store stays open (the caller's).
   */
  close(): Promise<void>;
}

export { CONTROL_PATH };

/**
 * Starts the map side on `options.store`. Throws when no relay is given, or when a step fails;
 * then every part started before it is closed again (the cluster's connections, the hub's and
 * the stream's timers): a failed start leaves nothing running.
 */
export async function startControl(options: ControlOptions): Promise<Control> {
  const { store } = options;
  if (options.relays.length === 0)
    throw new Error("control: at least one relay is needed (nodes talk through it)");
  const ids = new Set(options.relays.map((relay) => relay.id));
  if (ids.size !== options.relays.length)
    throw new Error("control: two relays have the same id (home relays are named by id)");
  const clock = options.clock ?? systemClock;
  const settings = await store.transaction((tx) => loadOrInitSettings(tx));
  const log = options.log?.child({ component: "control" });
  // The newest change row is read before the state is loaded: rows after it are applied again
  // (idempotent: each reads the current state), none is missed.
  const clusterUrl = options.cluster === false ? undefined : store.connectionString;
  const joining =
    clusterUrl === undefined
      ? undefined
      : await joinCluster({
          ...(options.cluster || {}),
          connectionString: clusterUrl,
          tag: createHash("sha256").update(settings.tokenSigningKey).digest("hex").slice(0, 12),
          log,
        });
  // What has started, closed newest first if a later step throws.
  const started: (() => unknown)[] = [];
  if (joining !== undefined) started.push(() => joining.close());
  try {
    // Alone on a PostgreSQL database that has change triggers: nobody else trims their rows.
    const loneTrim =
      options.cluster === false && store.connectionString !== undefined
        ? await startLoneTrim({ connectionString: store.connectionString, log })
        : undefined;
    if (loneTrim !== undefined) started.push(() => loneTrim.close());
    return await startParts(options, { settings, clock, log, joining, loneTrim, started });
  } catch (error) {
    for (const stop of started.reverse()) {
      try {
        await stop();
      } catch (stopError) {
        log?.warn({ err: String(stopError) }, "control: a part of a failed start did not close");
      }
    }
    throw error;
  }
}

/** What startControl made before the parts: settings, clock, log, the cluster join. */
interface StartContext {
  settings: MeshSettings;
  clock: Clock;
  log: Logger | undefined;
  joining: ClusterJoin | undefined;
  /** Trims cluster_changes when run alone on PostgreSQL (cluster/lone-trim.ts). */
  loneTrim: LoneTrim | undefined;
  /** Where each part that needs closing on a failed start adds its close. */
  started: (() => unknown)[];
}

async function startParts(options: ControlOptions, context: StartContext): Promise<Control> {
  const { store } = options;
  const { settings, clock, log, joining, loneTrim, started } = context;
  let member: Cluster | undefined;
  const policy = new PolicyHolder(options.compile ?? compilePolicy);
  await policy.load(store);
  const compiled = await policy.loadShares(store, clock.now());
  const mapper = new Mapper(compiled, {
    domain: settings.domain,
    relays: options.relays,
    ringSize: options.ringSize,
  });
  mapper.load(await store.listUsers(), await store.listNodes());
  // One relay: tokens name it; several: any of them (a node presents its map's one token to
  // its home relay and to its peers' home relays).
  const tokens = new RelayTokens(
    settings.tokenSigningKey,
    tokenRelayOf(options.relays)!,
    options.tokenLifetimeMs,
  );
  let hubRef: Hub | undefined;
  const metrics =
    options.metrics === undefined
      ? undefined
      : new ControlMetrics(
          options.metrics,
          () => hubRef?.attachedCount ?? 0,
          () => hubRef?.outboxDepth(),
        );
  const hub = new Hub({
    store,
    mapper,
    tokens,
    clock,
    keepaliveMs: options.keepaliveMs,
    ephemeralGraceMs: options.ephemeralGraceMs,
    outbox: options.outbox,
    log,
    metrics,
    cluster: joining === undefined ? undefined : lateHubCluster(() => member),
  });
  hubRef = hub;
  started.push(() => hub.close());
  const digestInputs = { relays: options.relays, settings };
  if (joining === undefined) {
    // Sessions of the previous run resume with a delta when nothing durable changed since.
    await restoreCheckpoint(store, hub, mapper, digestInputs, log);
    // Ephemeral nodes left from before a restart have no stream: they go after the grace period.
    for (const node of mapper.allNodes()) hub.streamEnded(node.id);
  }
  // (On several servers, cursors resume sessions anywhere, and the leader removes ephemeral
  // nodes that no server holds: cluster/index.ts.)
  const registrar = new Registrar({
    store,
    ipv6Prefix: settings.ipv6Prefix,
    policy: () => policy.current(),
    sessionUser: options.sessionUser,
    now: () => clock.now(),
    userKeyExpiryMs: options.userKeyExpiryMs,
  });
  const approvals = new ApprovalDesk(clock, options.baseUrl);
  const signals = new SignalRouter({
    mapper,
    deliver: (nodeId, message) => hub.deliverSignal(nodeId, message),
    elsewhere: (nodeId, message) => member?.signals.forward(nodeId, message) ?? false,
    now: () => clock.now(),
    count: (outcome) => metrics?.signal(outcome),
  });
  const stream = await ControlStream.create({
    hub,
    registrar,
    signals,
    approvals,
    helloKey: new Uint8Array(Buffer.from(settings.helloKey, "base64")),
    crypto: options.crypto ?? (await initCrypto()),
    x25519: options.x25519 ?? nodeX25519,
    origins: options.origins ?? [new URL(options.baseUrl).origin].map((o) => parseOrigin(o)),
    clock,
    nodeChanged: (node) => {
      const before = mapper.log.seq;
      mapper.upsertNode(node);
      member?.publishOwn({ kind: "node", nodeId: node.id }, before).catch(() => {});
    },
    loginTimeoutMs: options.loginTimeoutMs,
    registrationRate: options.registrationRate,
    log,
    metrics,
    relayIds: options.relays.map((relay) => relay.id),
  });
  started.push(() => stream.close());
  const localChanges = new MapSideChanges(store, mapper, hub, policy, log, metrics, () =>
    clock.now(),
  );
  member = joining?.start({
    local: localChanges,
    localSeq: () => mapper.log.seq,
    patch: (nodeId, change) => {
      if (mapper.node(nodeId) === undefined) return false;
      mapper.patch(nodeId, change);
      return true;
    },
    claimedElsewhere: (nodeId) => hub.claimedElsewhere(nodeId),
    held: () => hub.held(),
    orphaned: (nodeId) => hub.streamEnded(nodeId),
    unheldEphemeral: (holder) =>
      mapper
        .allNodes()
        .filter(
          (n) =>
            n.ephemeral &&
            holder(n.id) === undefined &&
            !hub.isAttached(n.id) &&
            !hub.removalPending(n.id),
        )
        .map((n) => n.id),
    now: () => clock.now(),
    approvals,
    deliverSignal: (nodeId, message) => hub.deliverSignal(nodeId, message),
    nodeIdByKey: (nodeKey) => mapper.nodeIdByKey(nodeKey),
    nodeKeyOf: (nodeId) => mapper.node(nodeId)?.nodeKey,
  });
  const joined = member;
  if (joined !== undefined) started.push(() => joined.close());
  const meshChanges = member?.changes ?? localChanges;
  // Ready only while listening to the database and caught up with the other servers' changes.
  if (member !== undefined) {
    const cluster = member;
    const removeCheck = options.readiness?.addCheck("changes", () => {
      const reasons = cluster.notReady();
      return reasons.length === 0 ? true : reasons.join("; ");
    });
    if (removeCheck !== undefined) started.push(removeCheck);
  }
  // However a share node leaves (revoked, expired, its ephemeral grace over, removed by an
  // admin), its device's rules naming its addresses go with it (on every server: each sees
  // the removal).
  mapper.onRemoved((node) => {
    if (node.shareAcceptanceId !== null) localChanges.sharesChanged().catch(() => {});
  });
  // Shares end on time: their recipients' nodes go at the expiry (shares/expiry-job.ts).
  const shareExpiry = startShareExpiry(
    new ShareService({ store, meshChanges, baseUrl: options.baseUrl, now: () => clock.now() }),
    store,
    clock,
    { log, leading: member === undefined ? undefined : () => member!.isLeader() },
  );
  started.push(() => shareExpiry.stop());
  return {
    handleUpgrade: stream.handleUpgrade,
    meshChanges,
    approvals,
    policy,
    settings,
    tokenPublicKey: tokens.publicKey,
    helloPublicKey: stream.serverKey,
    api: createApi({
      store,
      meshChanges,
      approvals,
      policy,
      baseUrl: options.baseUrl,
      now: () => clock.now(),
      presence: (id) => mapper.volatile.get(id),
      ...options.api,
    }),
    mapper,
    hub,
    stream,
    cluster: member,
    close: async () => {
      shareExpiry.stop();
      await stream.close();
      await loneTrim?.close();
      if (member !== undefined) {
        await member.close();
        return;
      }
      try {
        const sessions = await saveCheckpoint(store, hub, mapper, digestInputs);
        log?.info({ sessions }, "map checkpoint written for the next start");
      } catch (error) {
        log?.warn(
          { err: String(error) },
          "map checkpoint not written: the next start sends full maps",
        );
      }
    },
  };
}

/** The hub's cluster hooks before the member exists (the member needs the hub to start). */
function lateHubCluster(member: () => Cluster | undefined): HubCluster {
  return {
    presence: (nodeId, change) => member()?.hub.presence(nodeId, change),
    mayMarkOffline: (nodeId) => member()?.hub.mayMarkOffline(nodeId) ?? true,
    removed: (nodeId, refusal, before) => member()?.hub.removed(nodeId, refusal, before),
    cursorAt: (localSeq) => member()?.hub.cursorAt(localSeq),
    localSeqOf: (cursor) => member()?.hub.localSeqOf(cursor) ?? null,
    prepareResume: async (cursor) => member()?.hub.prepareResume(cursor),
  };
}
