// A peer's five timers, with the semantics of wireguard-go's device/timers.go and the paper
// §6: retransmitting a handshake, sending a passive keepalive, starting a new handshake when
// sent data gets no answer, zeroing old key material, and the persistent keepalive. The
// device calls the `on…` hooks as packets move; the timers call back into the device.

import type { Clock, TimerHandle } from "./clock.ts";
import {
  KEEPALIVE_TIMEOUT_MS,
  MAX_TIMER_HANDSHAKES,
  REJECT_AFTER_TIME_MS,
  REKEY_TIMEOUT_JITTER_MAX_MS,
  REKEY_TIMEOUT_MS,
} from "./constants.ts";

/** What the timers do when they fire. */
export interface TimerActions {
  /** Send a handshake initiation (isRetry: a retransmission, attempts are kept). */
  sendInitiation(isRetry: boolean): void;
  /** Send an empty transport message. */
  sendKeepalive(): void;
  /** Give up on the handshake: drop staged packets. */
  handshakeFailed(): void;
  /** Zero all key material. */
  zeroKeys(): void;
}

/**
 * One re-armable timer (wireguard-go's Timer with Mod and Del), cheap to move on every packet.
 *
 * The device moves some timers per packet: the persistent keepalive on every packet either
 * way, and on a two-way flow such as TCP with its ACKs the passive keepalive and the
 * new-handshake timer are deleted and set again over and over. A platform timer per move
 * (setTimeout and clearTimeout) costs more than the rest of the per-packet bookkeeping, so a
 * Slot keeps a deadline and one platform timer: mod() to a later deadline and del() only change
 * the deadline, and a timer that fires early re-arms itself for what is left. It fires at the
 * same moment the eager version would. cancel() drops the platform timer for good (stop).
 */
class Slot {
  private handle: TimerHandle | undefined;
  /** When the platform timer fires (clock ms), if there is one. */
  private handleAt = 0;
  /** When the slot is due (clock ms), or undefined when it is not set. */
  private due: number | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  get pending(): boolean {
    return this.due !== undefined;
  }

  mod(ms: number): void {
    const now = this.clock.now();
    const due = now + Math.max(0, ms);
    this.due = due;
    // A platform timer firing at or before the new deadline can stay: it re-arms for the rest.
    if (this.handle !== undefined && this.handleAt <= due) return;
    this.arm(now, due);
  }

  del(): void {
    this.due = undefined;
  }

  /** Drops the platform timer too, so nothing is left scheduled (the peer is gone). */
  cancel(): void {
    this.due = undefined;
    this.handle?.cancel();
    this.handle = undefined;
  }

  private arm(now: number, due: number): void {
    this.handle?.cancel();
    this.handleAt = due;
    this.handle = this.clock.setTimer(due - now, () => this.expired());
  }

  private expired(): void {
    this.handle = undefined;
    const due = this.due;
    if (due === undefined) return;
    const now = this.clock.now();
    if (now < due) {
      this.arm(now, due);
      return;
    }
    this.due = undefined;
    this.fire();
  }
}

/** The timers of one peer. */
export class PeerTimers {
  /** Initiations sent since the last completed handshake (MAX_TIMER_HANDSHAKES caps it). */
  handshakeAttempts = 0;
  /** Seconds between persistent keepalives; 0 = off. */
  persistentKeepaliveSeconds = 0;
  private readonly retransmitHandshake: Slot;
  private readonly sendKeepalive: Slot;
  private readonly newHandshake: Slot;
  private readonly zeroKeyMaterial: Slot;
  private readonly persistentKeepalive: Slot;
  private stopped = false;

  constructor(
    clock: Clock,
    private readonly actions: TimerActions,
    private readonly jitter: () => number,
  ) {
    this.retransmitHandshake = new Slot(clock, () => this.expiredRetransmitHandshake());
    this.sendKeepalive = new Slot(clock, () => this.actions.sendKeepalive());
    this.newHandshake = new Slot(clock, () => this.actions.sendInitiation(false));
    this.zeroKeyMaterial = new Slot(clock, () => this.actions.zeroKeys());
    this.persistentKeepalive = new Slot(clock, () => {
      if (this.persistentKeepaliveSeconds > 0) this.actions.sendKeepalive();
    });
  }

  private expiredRetransmitHandshake(): void {
    if (this.stopped) return;
    if (this.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
      // Tried for REKEY_ATTEMPT_TIME: give up, and zero old keys a little later.
      this.actions.handshakeFailed();
      if (!this.zeroKeyMaterial.pending) this.zeroKeyMaterial.mod(REJECT_AFTER_TIME_MS * 3);
      return;
    }
    this.handshakeAttempts++;
    this.actions.sendInitiation(true);
  }

  /** An initiation was sent: retransmit after REKEY_TIMEOUT plus jitter unless answered. */
  onHandshakeInitiated(): void {
    if (this.stopped) return;
    this.retransmitHandshake.mod(REKEY_TIMEOUT_MS + this.jitter());
  }

  /** A handshake completed (response consumed, or our keypair confirmed). */
  onHandshakeComplete(): void {
    this.retransmitHandshake.del();
    this.handshakeAttempts = 0;
  }

  /** New keys were derived: zero them all after three REJECT_AFTER_TIMEs without a new one. */
  onSessionDerived(): void {
    if (this.stopped) return;
    this.zeroKeyMaterial.mod(REJECT_AFTER_TIME_MS * 3);
  }

  /** We sent a data packet (not a keepalive): expect an answer within 15 s. */
  onDataSent(): void {
    if (this.stopped || this.newHandshake.pending) return;
    this.newHandshake.mod(KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS + this.jitter());
  }

  /** We received a data packet: answer with a keepalive within 10 s if nothing else goes. */
  onDataReceived(): void {
    if (this.stopped || this.sendKeepalive.pending) return;
    this.sendKeepalive.mod(KEEPALIVE_TIMEOUT_MS);
  }

  /** Any authenticated packet was sent, keepalives included. */
  onAnyAuthenticatedPacketSent(): void {
    this.sendKeepalive.del();
  }

  /** Any authenticated packet was received, keepalives included. */
  onAnyAuthenticatedPacketReceived(): void {
    this.newHandshake.del();
  }

  /** Any authenticated packet went either way: restart the persistent keepalive. */
  onAnyAuthenticatedPacketTraversal(): void {
    if (this.stopped || this.persistentKeepaliveSeconds === 0) return;
    this.persistentKeepalive.mod(this.persistentKeepaliveSeconds * 1000);
  }

  /** Cancels the handshake retransmission (the handshake was given up or the peer removed). */
  cancelRetransmit(): void {
    this.retransmitHandshake.del();
  }

  /** Stops every timer for good. */
  stop(): void {
    this.stopped = true;
    for (const slot of [
      this.retransmitHandshake,
      this.sendKeepalive,
      this.newHandshake,
      this.zeroKeyMaterial,
      this.persistentKeepalive,
    ]) {
      slot.cancel();
    }
  }
}

/** Uniform jitter in [0, REKEY_TIMEOUT_JITTER_MAX_MS), from `random` in [0, 1). */
export function rekeyJitter(random: () => number): number {
  return Math.floor(random() * REKEY_TIMEOUT_JITTER_MAX_MS);
}
