// The Share dialog's body for POST /api/v1/shares (web/share/share-body.ts): ticked and typed
// users and ports merged, sorted and unique; the audience's emails; the expiry as the API's
// durations ("10m", custom "90m"); the use limit; every problem named at once. Fuzzed with
// hostile free text (seeded): it never throws and a body it builds is always within the limits.

import { describe, expect, it } from "vitest";
import { buildShareRequest, type ShareForm } from "../../web/share/share-body.ts";
import { seededInts } from "../helpers/seeded.ts";

function form(over: Partial<ShareForm> = {}): ShareForm {
  return {
    nodeId: 7,
    sshUsers: [],
    sshUsersText: "",
    ports: [],
    portsText: "",
    audience: "anyone",
    emailsText: "",
    expiry: "1h",
    customAmount: "",
    customUnit: "h",
    uses: "one",
    usesText: "",
    note: "",
    ...over,
  };
}

describe("buildShareRequest", () => {
  it("an SSH share for alice, one use, 10 minutes", () => {
    expect(buildShareRequest(form({ sshUsers: ["alice"], expiry: "10m" }))).toEqual({
      ok: true,
      body: {
        nodeId: 7,
        sshUsers: ["alice"],
        ports: [],
        audience: "anyone",
        emails: [],
        expiry: "10m",
        maxUses: 1,
        note: "",
      },
    });
  });

  it("merges ticked and typed users and ports; emails lower case; several uses; note trimmed", () => {
    const built = buildShareRequest(
      form({
        sshUsers: ["alice"],
        sshUsersText: "bob, alice  deploy",
        ports: [8080],
        portsText: "3000,8080 22",
        audience: "emails",
        emailsText: "Ada@Example.com, grace@example.com\nada@example.com",
        expiry: "custom",
        customAmount: "90",
        customUnit: "m",
        uses: "several",
        usesText: "5",
        note: "  for the demo  ",
      }),
    );
    expect(built).toEqual({
      ok: true,
      body: {
        nodeId: 7,
        sshUsers: ["alice", "bob", "deploy"],
        ports: [22, 3000, 8080],
        audience: "emails",
        emails: ["ada@example.com", "grace@example.com"],
        expiry: "90m",
        maxUses: 5,
        note: "for the demo",
      },
    });
  });

  it("emails are sent only for the audience 'emails'; unlimited is null", () => {
    const built = buildShareRequest(
      form({ ports: [8888], audience: "signed-in", emailsText: "x@y.z", uses: "unlimited" }),
    );
    expect(built.ok && built.body.emails).toEqual([]);
    expect(built.ok && built.body.maxUses).toBeNull();
  });

  it("names every problem at once", () => {
    const built = buildShareRequest(
      form({
        sshUsersText: "root;rm",
        portsText: "70000 http",
        audience: "emails",
        expiry: "custom",
        customAmount: "31",
        customUnit: "d",
        uses: "several",
        usesText: "0",
        note: "x".repeat(281),
      }),
    );
    expect(built.ok).toBe(false);
    const fields = built.ok ? [] : built.issues.map((i) => i.field);
    expect(new Set(fields)).toEqual(
      new Set(["sshUsers", "ports", "emails", "expiry", "uses", "note"]),
    );
  });

  it("nothing offered is refused", () => {
    const built = buildShareRequest(form());
    expect(built.ok ? [] : built.issues.map((i) => i.field)).toEqual(["offer"]);
  });

  it("hostile free text: never throws, a built body is always within the limits", () => {
    const int = seededInts(0x5ba4e);
    const alphabet = [
      ..."ab_-.09 ,\n\t@;<>\"'\\/\0é😀",
      "alice",
      "8080",
      "65536",
      "0",
      "-1",
      "1e3",
    ];
    const valid = ["alice", "bob", "8080", "22", "3", "ada@example.com", " ", ","];
    // Half of the fields are made of valid words only, so many forms get through to a body.
    const text = (max: number) => {
      const from = int(2) === 0 ? valid : alphabet;
      return Array.from({ length: int(max) }, () => from[int(from.length)]!).join("");
    };
    const runs = 5_000;
    let built = 0;
    for (let i = 0; i < runs; i++) {
      const result = buildShareRequest(
        form({
          sshUsersText: text(12),
          portsText: text(12),
          audience: (["anyone", "signed-in", "emails"] as const)[int(3)]!,
          emailsText: text(12),
          expiry: (["10m", "1h", "1d", "7d", "custom"] as const)[int(5)]!,
          customAmount: text(4),
          customUnit: (["m", "h", "d"] as const)[int(3)]!,
          uses: (["one", "several", "unlimited"] as const)[int(3)]!,
          usesText: text(3),
          note: text(int(8) === 0 ? 400 : 40),
        }),
      );
      if (!result.ok) {
        expect(result.issues.length).toBeGreaterThan(0);
        continue;
      }
      built++;
      const b = result.body;
      for (const u of b.sshUsers) expect(u).toMatch(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/);
      for (const p of b.ports) expect(Number.isInteger(p) && p >= 1 && p <= 65535).toBe(true);
      expect([...b.ports].sort((x, y) => x - y)).toEqual(b.ports);
      expect(b.sshUsers.length + b.ports.length).toBeGreaterThan(0);
      expect(b.expiry).toMatch(/^[1-9][0-9]{0,5}[mhd]$/);
      expect(b.maxUses === null || (Number.isInteger(b.maxUses) && b.maxUses >= 1)).toBe(true);
      expect(b.note.length).toBeLessThanOrEqual(280);
      if (b.audience !== "emails") expect(b.emails).toEqual([]);
    }
    console.log(`share body fuzz: ${runs} hostile forms, ${built} built`);
    expect(built).toBeGreaterThan(0);
  });
});
