// A light simulated node for load runs: one WebSocket to /control, its own X25519 key, the real
// hello proof (worker/control/proof.ts), login with an auth key (the first time) and with
// `resume` after a drop, every server message decoded by the real codec and applied to a real
// MapState (a sequence gap, a contradicting delta or an undecodable message is recorded as an
// error: the rig's "nothing lost"). It can send `update` and be dropped or reconnected on
// command. What the full ControlClient adds (backoff, keepalive watchdog, DeviceSync) is left
// out so that thousands fit in one process.
//
// Several control servers (a cluster on PostgreSQL): the node has a list of URLs and starts at
// entry `index mod length` (round-robin over the servers). After a resumable close it comes
// back with `resume` (MapState.resumePoint: session, seq and the cluster cursor, which maps,
// deltas and keepalives carry, as the real client keeps it) to the same URL first and, when that
// fails before a map or delta, to the next one, as a load balancer would send it elsewhere.
//
// Receive times are taken when the WebSocket hands over a message; decoding and applying may
// be deferred (`defer`) so that a worker hosting thousands of nodes stamps every socket that
// became readable before it spends time decoding: a few processes stand in for thousands of
// machines, and the time one node spends decoding must not count as the server's lateness for
// the next node.

import WebSocket from "ws";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { decodeServerMessage, encodeClientMessage } from "../../worker/control/codec.ts";
import { type MapDiff, MapState } from "../../worker/control/map-state.ts";
import {
  CONTROL_CLOSE,
  CONTROL_PROTOCOL,
  type LoginMessage,
  MAX_CONTROL_MESSAGE,
  type ServerMessage,
} from "../../worker/control/messages.ts";
import { loginProof } from "../../worker/control/proof.ts";
import type { CryptoCore } from "../../worker/crypto/core.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { epochNow } from "./protocol.ts";

/** Close codes after which a node comes back with `resume`, as the real client does. */
const RESUMABLE = new Set([1001, 1006, 1011, 1012, CONTROL_CLOSE.TOO_SLOW]);

/** A map or delta as it arrived: when, how large, and what it changed. */
export interface Applied {
  message: ServerMessage & { type: "map" | "delta" };
  diff: MapDiff;
  /** When the WebSocket delivered it (epoch ms). */
  at: number;
  /** Bytes of UTF-8. */
  bytes: number;
}

/** What a SimNode needs. */
export interface SimNodeOptions {
  index: number;
  /** The control servers' map stream URLs; the node starts at `index mod urls.length`. */
  urls: string[];
  core: CryptoCore;
  authKey: string;
  hostname: string;
  /** Runs decoding later (a worker batches it); default: at once. */
  defer?: (work: () => void) => void;
  /** Called after every map or delta is applied. */
  onApplied?: (node: SimNode, applied: Applied) => void;
  /** Called with every correctness problem. */
  onError?: (node: SimNode, problem: string) => void;
}

/** The first map or delta of a connection. */
export interface FirstMessage {
  startedAt: number;
  kind: "map" | "delta";
  bytes: number;
  at: number;
}

/** One simulated node. */
export class SimNode {
  readonly map = new MapState();
  readonly privateKey = generatePrivateKey();
  /** Times the server closed the stream with a resumable code and the node came back. */
  resumed = 0;
  /** Connections whose first message was a full map, and ones that resumed with a delta. */
  fullMaps = 0;
  deltaResumes = 0;
  /** Which of `urls` the node uses now. */
  urlAt: number;
  private ws: WebSocket | undefined;
  private first: ((first: FirstMessage) => void) | undefined;
  private failFirst: ((error: Error) => void) | undefined;
  private startedAt = 0;
  private wantResume = false;

  constructor(readonly options: SimNodeOptions) {
    this.urlAt = options.index % options.urls.length;
  }

  /** The URL the node connects to now. */
  get url(): string {
    return this.options.urls[this.urlAt]!;
  }

  get index(): number {
    return this.options.index;
  }

  /** The node's id on the server (after the first map). */
  get id(): number {
    return this.map.self.id;
  }

  /** Whether a stream is open or opening. */
  get connected(): boolean {
    return this.ws !== undefined;
  }

  /**
   * Opens a stream and logs in (with `resume` when asked and possible); resolves with the
   * first map or delta, rejects when the stream ends before it.
   */
  connect(resume = false): Promise<FirstMessage> {
    if (this.ws !== undefined) throw new Error(`node ${this.index}: already connected`);
    this.wantResume = resume;
    this.startedAt = epochNow();
    const ws = new WebSocket(this.url, CONTROL_PROTOCOL, {
      perMessageDeflate: false,
      maxPayload: MAX_CONTROL_MESSAGE,
    });
    this.ws = ws;
    const started = this.startedAt;
    const result = new Promise<FirstMessage>((resolve, reject) => {
      this.first = (first) => resolve(first);
      this.failFirst = reject;
    });
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      const at = epochNow();
      const text = isBinary ? "" : data.toString("utf8");
      const work = () => this.receive(ws, text, data.length, at, started);
      if (this.options.defer === undefined) work();
      else this.options.defer(work);
    });
    ws.on("error", () => {}); // the close event follows
    ws.on("close", (code: number, reason: Buffer) => this.closed(ws, code, reason.toString()));
    return result;
  }

  /** Sends an `update`; returns when it was handed to the socket (epoch ms). */
  update(fields: { endpoints?: string[]; homeRelay?: string }): number {
    const ws = this.ws;
    if (ws === undefined || this.first !== undefined) {
      throw new Error(`node ${this.index}: no stream to send an update on`);
    }
    const at = epochNow();
    ws.send(encodeClientMessage({ type: "update", ...fields }));
    return at;
  }

  /** Ends the stream on purpose (no reconnect); returns when (epoch ms). */
  drop(): number {
    const ws = this.ws;
    this.ws = undefined;
    const at = epochNow();
    ws?.close(1000, "load rig: dropped");
    return at;
  }

  /** Ends the stream at once, for the end of a run. */
  terminate(): void {
    const ws = this.ws;
    this.ws = undefined;
    ws?.terminate();
  }

  private receive(ws: WebSocket, text: string, bytes: number, at: number, started: number): void {
    if (this.ws !== ws) return; // a stream dropped on purpose: what was in flight is moot
    let message: ServerMessage;
    try {
      message = decodeServerMessage(text);
    } catch (error) {
      this.problem(`undecodable message: ${(error as Error).message}`);
      return;
    }
    switch (message.type) {
      case "hello":
        this.login(ws, message).catch((error: unknown) =>
          this.problem(`login: ${(error as Error).message}`),
        );
        return;
      case "map":
      case "delta": {
        let diff: MapDiff;
        try {
          diff = this.map.apply(message);
        } catch (error) {
          this.problem(`${message.type} ${message.seq}: ${(error as Error).message}`);
          // As the real client: a full map next.
          this.map.forgetSession();
          this.ws = undefined;
          ws.close(CONTROL_CLOSE.PROTOCOL, "load rig: bad delta");
          this.connect(false).catch(() => {});
          return;
        }
        const first = this.first;
        if (first !== undefined) {
          if (message.type === "map") this.fullMaps++;
          else this.deltaResumes++;
          this.first = undefined;
          this.failFirst = undefined;
          first({ startedAt: started, kind: message.type, bytes, at });
        }
        this.options.onApplied?.(this, { message, diff, at, bytes });
        return;
      }
      case "refused":
        this.problem(`refused: ${message.code}: ${message.message}`);
        return;
      case "waiting":
        this.problem(`asked to wait for approval (${message.approvalUrl})`);
        return;
      case "keepalive":
        if (message.cursor !== undefined) this.map.noteCursor(message.cursor);
        return;
    }
  }

  /**
   * Reconnects with resume after a resumable close: the same URL first, then round the list
   * (a short pause between tries, about 20 s in all), as a balancer moves a client to a live
   * server.
   */
  private async comeBack(code: number): Promise<void> {
    let last: unknown;
    for (let attempt = 0; attempt < 100; attempt++) {
      if (this.ws !== undefined) return; // the rig reconnected it meanwhile
      try {
        await this.connect(true);
        return;
      } catch (error) {
        last = error;
        this.urlAt = (this.urlAt + 1) % this.options.urls.length;
        await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 100));
      }
    }
    throw new Error(`no server took it back after ${code}: ${(last as Error).message}`);
  }

  private async login(ws: WebSocket, hello: ServerMessage & { type: "hello" }): Promise<void> {
    const proof = await loginProof(this.options.core, nodeX25519, this.privateKey, hello);
    const resume = this.wantResume ? this.map.resumePoint() : undefined;
    const login: LoginMessage = {
      type: "login",
      ...proof,
      hostinfo: { hostname: this.options.hostname, os: "linux" },
      authKey: this.options.authKey,
      ...(resume === undefined ? {} : { resume }),
    };
    if (this.ws === ws) ws.send(encodeClientMessage(login));
  }

  private closed(ws: WebSocket, code: number, reason: string): void {
    if (this.ws !== ws) return; // closed on purpose
    this.ws = undefined;
    const failFirst = this.failFirst;
    this.first = undefined;
    this.failFirst = undefined;
    if (failFirst !== undefined) {
      failFirst(new Error(`node ${this.index}: stream closed ${code} ${reason}`));
      return;
    }
    if (RESUMABLE.has(code)) {
      this.resumed++;
      this.comeBack(code).catch((error: unknown) =>
        this.problem(`resume after ${code}: ${(error as Error).message}`),
      );
      return;
    }
    this.problem(`stream closed ${code} ${reason}`);
  }

  private problem(text: string): void {
    this.options.onError?.(this, `node ${this.index}: ${text}`);
  }
}
