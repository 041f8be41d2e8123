// A mesh refusal offers a fresh sign-in only on the control server's word (issue 15 review,
// item 1): checkRuleGrants reads GET /api/v1/nodes/:id/ssh-users' checkUsers, never the host's
// banner; hostile answers (seeded, 2,000) never offer one unless checkUsers names the user.

import { describe, expect, it } from "vitest";
import { checkRuleGrants, leavingText } from "../../web/shell/check-offer.ts";
import { seededInts } from "../helpers/seeded.ts";

describe("the sign-in offer after a check refusal", () => {
  it("only a user in checkUsers is offered the sign-in", () => {
    const answer = {
      users: ["me", "root"],
      action: "check",
      checkPeriodMs: 60_000,
      checkUsers: ["root"],
    };
    expect(checkRuleGrants(answer, "root")).toBe(true);
    expect(checkRuleGrants(answer, "me")).toBe(false);
    expect(checkRuleGrants({ ...answer, action: "accept", checkUsers: [] }, "root")).toBe(false);
    expect(checkRuleGrants({ users: ["root"], action: "check" }, "root")).toBe(false);
  });

  it("says what leaving does, by how the engine lives", () => {
    expect(leavingText(false)).toMatch(/sessions open in this tab close/);
    expect(leavingText(true)).toMatch(/shared engine keeps your SSH sessions/);
  });

  it("hostile answers never offer a sign-in for a user they do not name (2,000 inputs)", () => {
    const ints = seededInts(15_2);
    const pick = <T>(items: readonly T[]): T => items[ints(items.length)]!;
    const values: unknown[] = [
      null,
      0,
      "",
      "root",
      [],
      {},
      ["root"],
      [1, "root"],
      { root: 1 },
      true,
    ];
    let offered = 0;
    for (let i = 0; i < 2000; i++) {
      const answer =
        ints(7) === 0 ? pick(values) : { checkUsers: pick(values), users: pick(values) };
      const user = pick(["root", "me", "", "__proto__"]);
      const grants = checkRuleGrants(answer, user);
      const listed =
        typeof answer === "object" &&
        answer !== null &&
        Array.isArray((answer as { checkUsers?: unknown }).checkUsers) &&
        ((answer as { checkUsers: unknown[] }).checkUsers as unknown[]).includes(user);
      expect(grants).toBe(listed);
      if (grants) offered++;
    }
    expect(offered).toBeGreaterThan(0);
  });
});
