// The vectors in this directory are the files PROVENANCE.md describes: each one's SHA-256 is
// the one written there, and, in a checkout that has the project's shared folder beside it,
// the copy is still identical to its source.

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { expect, it } from "vitest";

const here = (name: string) => new URL(name, import.meta.url);
const provenance = readFileSync(here("PROVENANCE.md"), "utf8");

it("wireguard-handshake.json has the SHA-256 PROVENANCE.md records, and matches its source", () => {
  const copy = readFileSync(here("wireguard-handshake.json"));
  const sha = createHash("sha256").update(copy).digest("hex");
  const section = provenance.slice(provenance.indexOf("## wireguard-handshake.json"));
  expect(section.match(/SHA-256 of the file: `([0-9a-f]{64})`/)?.[1]).toBe(sha);
  // Two cases, as DESIGN.md §6 describes them.
  const cases = (JSON.parse(copy.toString("utf8")) as { cases: { name: string }[] }).cases;
  expect(cases.map((c) => c.name)).toEqual(["no psk", "with psk"]);
  const source = here("../../../shared/vectors/wireguard-handshake.json");
  // The shared folder is not part of the repository; where it is present the copy must not
  // have drifted from it.
  if (existsSync(source)) expect(readFileSync(source).equals(copy)).toBe(true);
});
