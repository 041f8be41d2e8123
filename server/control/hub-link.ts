// One attached map stream as the hub keeps it (hub.ts), and the two timers each stream runs: the
// keepalive (with the node's cursor when several servers run and nothing waits to be sent) and
// the relay token's refresh, in a delta of its own at 3/4 of the token's life.

import type { ServerMessage } from "../../worker/control/messages.ts";
import type { HubCluster } from "./cluster/index.ts";
import type { Mapper } from "./mapper/mapper.ts";
import type { Outbox } from "./mapper/outbox.ts";
import type { CancelTimer, Clock } from "./state/clock.ts";
import type { RelayTokens } from "./tokens.ts";

/** A node's open stream, as the hub uses it (a WebSocket in production). */
export interface NodeLink {
  readonly bufferedAmount: number;
  send(text: string): void;
  close(code: number, reason: string): void;
  /** The client listed the "signal" capability at login (it takes `signal` messages). */
  readonly signals?: boolean;
}

/** Default keepalive period (proxies commonly drop WebSockets idle for 60 s). */
export const KEEPALIVE_MS = 50_000;

/** An attached stream. */
export interface Attached {
  link: NodeLink;
  outbox: Outbox;
  /** False once released: its timers' callbacks do nothing. */
  alive: boolean;
  /** When the stream attached (ms): its claim's age across servers (cluster/presence.ts). */
  attachedAt: number;
  keepalive?: CancelTimer;
  refresh?: CancelTimer;
}

/** What the timers read (the hub's options and mapper). */
export interface LinkTimerContext {
  mapper: Mapper;
  tokens: RelayTokens;
  clock: Clock;
  /** Keepalive period; each wait is drawn from ±10% around it. Default KEEPALIVE_MS. */
  keepaliveMs?: number;
  /** Random numbers in [0, 1) for the keepalive jitter. */
  random?: () => number;
  cluster?: HubCluster;
}

/** Sends one message on a stream. */
export function send(link: NodeLink, message: ServerMessage): void {
  link.send(JSON.stringify(message));
}

/** A fresh token at 3/4 of the current one's life (in `inMs`), in a delta of its own. */
export function scheduleRefresh(
  ctx: LinkTimerContext,
  nodeId: number,
  attached: Attached,
  inMs: number,
): void {
  attached.refresh = ctx.clock.setTimer(() => {
    const node = ctx.mapper.node(nodeId);
    if (!attached.alive || node === undefined) return;
    const now = ctx.clock.now();
    const token = ctx.tokens.grant(node.nodeKey, now);
    attached.outbox.add({ token }, ctx.mapper.log.seq);
    scheduleRefresh(ctx, nodeId, attached, ctx.tokens.refreshIn(token, now));
  }, inMs);
}

/** The next keepalive, after a jittered period. */
export function scheduleKeepalive(ctx: LinkTimerContext, attached: Attached): void {
  const period = ctx.keepaliveMs ?? KEEPALIVE_MS;
  const wait = period * (0.9 + 0.2 * (ctx.random ?? Math.random)());
  attached.keepalive = ctx.clock.setTimer(() => {
    if (!attached.alive) return;
    // Nothing waiting for it: the node is up to date with the change log as it is now.
    const cursor = attached.outbox.empty ? ctx.cluster?.cursorAt(ctx.mapper.log.seq) : undefined;
    send(
      attached.link,
      cursor === undefined ? { type: "keepalive" } : { type: "keepalive", cursor },
    );
    scheduleKeepalive(ctx, attached);
  }, wait);
}
