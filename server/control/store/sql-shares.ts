// The share operations of StoreTx (share links, their acceptances), in the SQL both dialects
// share (see sql-tx.ts). An acceptance's node is not stored on the acceptance: it is the node
// whose share_acceptance_id names it (unique), joined in every read, so removing the node is
// all it takes for the acceptance to say "no node".

import { acceptanceFromRow, numbersText, type Row, shareFromRow, stringsText } from "./rows.ts";
import { SqlAudit } from "./sql-audit.ts";
import type {
  AcceptanceEndReason,
  NewAcceptance,
  NewShare,
  OpenAcceptance,
  ShareAcceptanceRecord,
  ShareRecord,
} from "./types.ts";

/** Acceptances with their node's id as node_id. */
const ACCEPTANCES = `SELECT a.*, n.id AS node_id FROM share_acceptances a
  LEFT JOIN nodes n ON n.share_acceptance_id = a.id`;

/** Shares, acceptances, and everything below (SqlAudit). */
export class SqlShares extends SqlAudit {
  async createShare(share: NewShare): Promise<ShareRecord> {
    const { rows } = await this.write(
      `INSERT INTO shares (id, secret_hash, node_id, created_by, ssh_users, ports, audience,
         emails, expires_at, max_uses, uses, note, created_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, NULL) RETURNING *`,
      [
        share.id,
        share.secretHash,
        share.nodeId,
        share.createdBy,
        stringsText(share.sshUsers),
        numbersText(share.ports),
        share.audience,
        stringsText(share.emails),
        share.expiresAt,
        share.maxUses,
        share.note,
        this.now(),
      ],
      "shares",
      { createdBy: share.createdBy },
    );
    return shareFromRow(rows[0]!);
  }

  async shareById(id: string): Promise<ShareRecord | null> {
    const row = await this.one("SELECT * FROM shares WHERE id = ?", [id]);
    return row === undefined ? null : shareFromRow(row);
  }

  async listShares(createdBy?: number): Promise<ShareRecord[]> {
    // created_at, then id: a stable order for shares made in the same millisecond.
    const rows =
      createdBy === undefined
        ? await this.db.read("SELECT * FROM shares ORDER BY created_at DESC, id")
        : await this.db.read(
            "SELECT * FROM shares WHERE created_by = ? ORDER BY created_at DESC, id",
            [createdBy],
          );
    return rows.map(shareFromRow);
  }

  async revokeShare(id: string, at: number): Promise<boolean> {
    const { changes } = await this.write(
      "UPDATE shares SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
      [at, id],
    );
    return changes > 0;
  }

  async useShare(id: string, now: number): Promise<boolean> {
    // One statement: the conditions and the count change together, so two concurrent accepts
    // of a one-use share cannot both see it unused (PostgreSQL re-checks the row after its lock).
    const { changes } = await this.write(
      `UPDATE shares SET uses = uses + 1
       WHERE id = ? AND revoked_at IS NULL AND expires_at > ?
         AND (max_uses IS NULL OR uses < max_uses)`,
      [id, now],
    );
    return changes > 0;
  }

  async createAcceptance(acceptance: NewAcceptance): Promise<ShareAcceptanceRecord> {
    const { rows } = await this.write(
      `INSERT INTO share_acceptances (share_id, user_id, guest_name, user_agent, accepted_at,
         ended_at, end_reason)
       VALUES (?, ?, ?, ?, ?, NULL, NULL) RETURNING *`,
      [
        acceptance.shareId,
        acceptance.userId,
        acceptance.guestName,
        acceptance.userAgent,
        acceptance.acceptedAt,
      ],
      "share_acceptances",
      { shareId: acceptance.shareId, userId: acceptance.userId },
    );
    // Just created: no node names it yet.
    return acceptanceFromRow({ ...rows[0]!, node_id: null });
  }

  async acceptanceById(id: number): Promise<ShareAcceptanceRecord | null> {
    const row = await this.one(`${ACCEPTANCES} WHERE a.id = ?`, [id]);
    return row === undefined ? null : acceptanceFromRow(row);
  }

  async acceptancesOfShare(shareId: string): Promise<ShareAcceptanceRecord[]> {
    return (await this.db.read(`${ACCEPTANCES} WHERE a.share_id = ? ORDER BY a.id`, [shareId])).map(
      acceptanceFromRow,
    );
  }

  async endAcceptance(id: number, at: number, reason: AcceptanceEndReason): Promise<boolean> {
    const { changes } = await this.write(
      "UPDATE share_acceptances SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
      [at, reason, id],
    );
    return changes > 0;
  }

  async listOpenAcceptances(): Promise<OpenAcceptance[]> {
    const acceptances = (
      await this.db.read(`${ACCEPTANCES} WHERE a.ended_at IS NULL ORDER BY a.id`)
    ).map(acceptanceFromRow);
    if (acceptances.length === 0) return [];
    const shares = new Map<string, ShareRecord>();
    const rows: Row[] = await this.db.read(
      `SELECT * FROM shares WHERE id IN
         (SELECT share_id FROM share_acceptances WHERE ended_at IS NULL)`,
    );
    for (const row of rows) {
      const share = shareFromRow(row);
      shares.set(share.id, share);
    }
    // Both reads run in the caller's transaction when it has one; outside one an acceptance
    // opened between them has no share in the map, and is left for the next read.
    return acceptances.flatMap((acceptance) => {
      const share = shares.get(acceptance.shareId);
      return share === undefined ? [] : [{ acceptance, share }];
    });
  }
}
