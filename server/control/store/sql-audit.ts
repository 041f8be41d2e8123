// The audit log's operations of StoreTx, in the SQL both dialects share (see sql-tx.ts): append
// an entry, and page through them newest first by id (an index lookup on the primary key, so a
// long log costs no more per page than a short one).

import { auditFromRow } from "./rows.ts";
import { SqlNodes } from "./sql-nodes.ts";
import type { AuditRecord, NewAudit } from "./types.ts";

/** Users, nodes (SqlNodes) and the audit log. */
export class SqlAudit extends SqlNodes {
  async addAudit(entry: NewAudit): Promise<AuditRecord> {
    const { rows } = await this.write(
      `INSERT INTO audit_log (at, actor_id, actor, via, action, target, detail, source)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      [
        entry.at,
        entry.actorId,
        entry.actor,
        entry.via,
        entry.action,
        entry.target,
        entry.detail,
        entry.source,
      ],
    );
    return auditFromRow(rows[0]!);
  }

  async listAudit(limit: number, before?: number): Promise<AuditRecord[]> {
    const n = Math.max(0, Math.floor(limit));
    const rows =
      before === undefined
        ? await this.db.read("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [n])
        : await this.db.read("SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?", [
            before,
            n,
          ]);
    return rows.map(auditFromRow);
  }
}
