// The body of POST /api/v1/shares, built from what the Share dialog holds (web/dialogs/
// share-create.ts). Pure, so it is tested without a DOM: every problem is reported at once,
// naming its field, before anything is sent; the server checks it all again.

import type { ShareAudience } from "../../worker/control/api-views.ts";

/** The expiry choices of the dialog; "custom" takes a number of minutes, hours or days. */
export const EXPIRY_CHOICES = ["10m", "1h", "1d", "7d", "custom"] as const;
export type ExpiryChoice = (typeof EXPIRY_CHOICES)[number];

/** How many acceptances: one, a number, or any number until expiry. */
export type UsesChoice = "one" | "several" | "unlimited";

/** Shortest and longest custom expiry (the server's limits: 1 minute to 30 days). */
const MIN_EXPIRY_MINUTES = 1;
const MAX_EXPIRY_MINUTES = 30 * 24 * 60;
/** Longest note (the server's SHARE_NOTE_MAX). */
export const NOTE_MAX = 280;
/** Most users, ports or emails in one share (the server's SHARE_LIST_MAX). */
export const LIST_MAX = 32;
/** A local user name as the agent's SSH server takes it. */
const LOCAL_USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
/** An email address, loosely (the server decides). */
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,189}$/;

/** What the dialog holds. Free-text fields are as typed. */
export interface ShareForm {
  nodeId: number;
  /** SSH users ticked or typed; free text is split at commas and spaces. */
  sshUsers: string[];
  sshUsersText: string;
  /** Ports ticked (the host's web services) and typed (commas or spaces). */
  ports: number[];
  portsText: string;
  audience: ShareAudience;
  emailsText: string;
  expiry: ExpiryChoice;
  /** For "custom": a number and its unit. */
  customAmount: string;
  customUnit: "m" | "h" | "d";
  uses: UsesChoice;
  /** For "several": how many. */
  usesText: string;
  note: string;
}

/** POST /api/v1/shares's body. `expiry` is a duration as the API writes them ("10m", "7d"). */
export interface ShareCreateRequest {
  nodeId: number;
  sshUsers: string[];
  ports: number[];
  audience: ShareAudience;
  emails: string[];
  expiry: string;
  maxUses: number | null;
  note: string;
}

/** A problem with one field of the form. */
export interface FormIssue {
  field: "sshUsers" | "ports" | "emails" | "expiry" | "uses" | "note" | "offer";
  message: string;
}

/** The body, or every problem with the form. */
export type BuiltShare =
  | { ok: true; body: ShareCreateRequest }
  | { ok: false; issues: FormIssue[] };

function words(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((w) => w.trim())
    .filter((w) => w !== "");
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

const UNIT_MINUTES = { m: 1, h: 60, d: 24 * 60 } as const;

/** The expiry as a duration ("10m"), or the problem. */
function expiryOf(form: ShareForm): string | FormIssue {
  if (form.expiry !== "custom") return form.expiry;
  const text = form.customAmount.trim();
  const amount = /^[0-9]{1,6}$/.test(text) ? Number(text) : Number.NaN;
  const minutes = amount * UNIT_MINUTES[form.customUnit];
  if (!Number.isInteger(amount) || minutes < MIN_EXPIRY_MINUTES || minutes > MAX_EXPIRY_MINUTES) {
    return { field: "expiry", message: "a custom expiry is from 1 minute to 30 days" };
  }
  return `${amount}${form.customUnit}`;
}

/** Builds the request from the form, or says everything that is wrong with it. */
export function buildShareRequest(form: ShareForm): BuiltShare {
  const issues: FormIssue[] = [];
  const sshUsers = unique([...form.sshUsers, ...words(form.sshUsersText)]);
  for (const user of sshUsers) {
    if (!LOCAL_USER.test(user)) {
      issues.push({
        field: "sshUsers",
        message: `${JSON.stringify(user.slice(0, 40))} is not a local user name`,
      });
    }
  }
  if (sshUsers.length > LIST_MAX) {
    issues.push({ field: "sshUsers", message: `at most ${LIST_MAX} users` });
  }
  const ports = [...form.ports];
  for (const word of words(form.portsText)) {
    const port = /^[0-9]{1,5}$/.test(word) ? Number(word) : Number.NaN;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      issues.push({
        field: "ports",
        message: `${JSON.stringify(word.slice(0, 20))} is not a TCP port (1 to 65535)`,
      });
    } else {
      ports.push(port);
    }
  }
  const sortedPorts = unique(ports).sort((a, b) => a - b);
  if (sortedPorts.length > LIST_MAX)
    issues.push({ field: "ports", message: `at most ${LIST_MAX} ports` });
  if (sshUsers.length === 0 && sortedPorts.length === 0) {
    issues.push({ field: "offer", message: "offer SSH as a user, a port, or both" });
  }
  const emails =
    form.audience === "emails" ? unique(words(form.emailsText).map((e) => e.toLowerCase())) : [];
  if (form.audience === "emails") {
    if (emails.length === 0) issues.push({ field: "emails", message: "list at least one email" });
    for (const email of emails) {
      if (email.length > 254 || !EMAIL.test(email)) {
        issues.push({
          field: "emails",
          message: `${JSON.stringify(email.slice(0, 60))} is not an email address`,
        });
      }
    }
    if (emails.length > LIST_MAX)
      issues.push({ field: "emails", message: `at most ${LIST_MAX} emails` });
  }
  const expiry = expiryOf(form);
  if (typeof expiry !== "string") issues.push(expiry);
  let maxUses: number | null = null;
  if (form.uses === "one") maxUses = 1;
  else if (form.uses === "several") {
    const text = form.usesText.trim();
    const n = /^[0-9]{1,6}$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isInteger(n) || n < 1) {
      issues.push({ field: "uses", message: "how many acceptances: a whole number, at least 1" });
    } else {
      maxUses = n;
    }
  }
  const note = form.note.trim();
  if (note.length > NOTE_MAX)
    issues.push({ field: "note", message: `at most ${NOTE_MAX} characters` });
  if (issues.length > 0 || typeof expiry !== "string") return { ok: false, issues };
  return {
    ok: true,
    body: {
      nodeId: form.nodeId,
      sshUsers,
      ports: sortedPorts,
      audience: form.audience,
      emails,
      expiry,
      maxUses,
      note,
    },
  };
}
