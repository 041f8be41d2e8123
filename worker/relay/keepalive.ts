// The relay connection's keepalive (DESIGN §4): a PING every interval, answered by a PONG that
// echoes its random bytes. The echo gives the round trip (shown in status), and a PING left
// unanswered past the timeout means the path is dead even though the socket looks open (a
// half-open TCP connection), so the connection is dropped and made again.

import type { Clock, TimerHandle } from "../wireguard/clock.ts";
import type { RandomBytes } from "../wireguard/cookie.ts";
import type { RelayBindStats } from "./client-options.ts";
import * as F from "./frames.ts";
import type { RelaySocket } from "./socket.ts";

/** What the keepalive needs of its connection. */
export interface KeepaliveOptions {
  clock: Clock;
  random: RandomBytes;
  stats: Pick<RelayBindStats, "pings" | "pongs" | "keepaliveTimeouts">;
  /** Between a PONG and the next PING (default 15 s). */
  intervalMs?: number;
  /** How long a PING may go unanswered (default 10 s). */
  timeoutMs?: number;
  /** The current connection's number: a timer set for an older one does nothing. */
  generation: () => number;
  /** The current socket, if any. */
  socket: () => RelaySocket | undefined;
  /** Sends a frame on `socket` (counting what fails). */
  write: (socket: RelaySocket, frame: Uint8Array) => void;
  /** No PONG in time: the connection is to be dropped. */
  onTimeout: () => void;
}

/** PING/PONG on one relay connection after another. */
export class RelayKeepalive {
  private timer: TimerHandle | undefined;
  private ping: { data: Uint8Array; at: number } | undefined;
  private rtt: number | undefined;

  constructor(private readonly options: KeepaliveOptions) {}

  /** The last round trip in milliseconds, undefined before the first PONG. */
  get rttMs(): number | undefined {
    return this.rtt;
  }

  /** Sends the next PING after `delayMs`, then waits for its PONG. */
  schedule(delayMs = this.options.intervalMs ?? 15_000): void {
    const { clock, stats } = this.options;
    const generation = this.options.generation();
    this.timer?.cancel();
    this.timer = clock.setTimer(delayMs, () => {
      const socket = this.options.socket();
      if (generation !== this.options.generation() || socket === undefined) return;
      const data = this.options.random(F.PING_LENGTH).slice(0, F.PING_LENGTH);
      this.ping = { data, at: clock.now() };
      stats.pings++;
      this.options.write(socket, F.encodePing(F.PING, data));
      this.timer = clock.setTimer(this.options.timeoutMs ?? 10_000, () => {
        if (generation !== this.options.generation()) return;
        stats.keepaliveTimeouts++;
        this.options.onTimeout();
      });
    });
  }

  /** A PONG: when it echoes the PING in flight, the round trip is taken and the next PING set. */
  pong(data: Uint8Array): void {
    const ping = this.ping;
    if (ping === undefined || !ping.data.every((b, i) => data[i] === b)) return;
    this.ping = undefined;
    this.options.stats.pongs++;
    this.rtt = this.options.clock.now() - ping.at;
    this.schedule();
  }

  /** The connection ended: no PING pending, no timer. */
  stop(): void {
    this.timer?.cancel();
    this.ping = undefined;
  }
}
