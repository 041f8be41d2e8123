// What a node has not been sent yet, coalesced: while its socket is busy, changes merge here
// so that a peer changed ten times costs one entry (latest wins per peer and per field), and
// a peer added then removed costs one removal. The outbox (outbox.ts) bounds the entry count.

import type { DeltaMessage } from "../../../worker/control/messages.ts";
import type { PeerPatch, PeerView } from "../../../worker/control/types.ts";

/** The content of a delta, without its type and sequence number. */
export type DeltaParts = Omit<DeltaMessage, "type" | "seq">;

/** A coalescing accumulator of delta parts. */
export class PendingDelta {
  private readonly upserts = new Map<number, PeerView>();
  private readonly removed = new Set<number>();
  private readonly patches = new Map<number, PeerPatch>();
  private scalars: Pick<DeltaParts, "self" | "filter" | "ssh" | "relays" | "token"> = {};

  /** Peers this accumulator holds something for (the outbox's bound). */
  get entries(): number {
    return this.upserts.size + this.removed.size + this.patches.size;
  }

  /** True when nothing waits. */
  get empty(): boolean {
    return this.entries === 0 && Object.keys(this.scalars).length === 0;
  }

  /** Merges `parts` in, after everything already held. */
  add(parts: DeltaParts): void {
    for (const id of parts.peersRemoved ?? []) {
      this.upserts.delete(id);
      this.patches.delete(id);
      this.removed.add(id);
    }
    for (const view of parts.peersUpserted ?? []) {
      // A full view carries the volatile fields as of now: older patches are contained in it.
      this.removed.delete(view.id);
      this.patches.delete(view.id);
      this.upserts.set(view.id, view);
    }
    for (const patch of parts.patches ?? []) {
      if (this.removed.has(patch.id)) continue;
      const upserted = this.upserts.get(patch.id);
      if (upserted !== undefined) {
        this.upserts.set(patch.id, { ...upserted, ...patch });
        continue;
      }
      this.patches.set(patch.id, { ...this.patches.get(patch.id), ...patch });
    }
    if (parts.self !== undefined) this.scalars.self = parts.self;
    if (parts.filter !== undefined) this.scalars.filter = parts.filter;
    if (parts.ssh !== undefined) this.scalars.ssh = parts.ssh;
    if (parts.relays !== undefined) this.scalars.relays = parts.relays;
    if (parts.token !== undefined) this.scalars.token = parts.token;
  }

  /** The delta message of everything held, numbered `seq`; the accumulator is empty after. */
  take(seq: number): DeltaMessage {
    const message: DeltaMessage = { type: "delta", seq };
    if (this.upserts.size > 0) message.peersUpserted = [...this.upserts.values()];
    if (this.removed.size > 0) message.peersRemoved = [...this.removed];
    if (this.patches.size > 0) message.patches = [...this.patches.values()];
    Object.assign(message, this.scalars);
    this.upserts.clear();
    this.removed.clear();
    this.patches.clear();
    this.scalars = {};
    return message;
  }
}
