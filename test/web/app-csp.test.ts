// The app origin service worker's CSP adaptation (web/app-sw/csp.ts): exactly the page script is
// let in, by the app's nonce, a nonce of ours under 'strict-dynamic', or its exact URL; nothing
// else changes. Examples, then a seeded fuzz (never throws, every output policy still parses and
// lets the script in, other directives untouched, 'unsafe-inline' never switched off).

import { describe, expect, it } from "vitest";
import {
  adaptCsp,
  type Directive,
  noncesOf,
  parsePolicy,
  scriptDirective,
} from "../../web/app-sw/csp.ts";
import { seededInts } from "../helpers/seeded.ts";

const URL_ = "http://web-01--3000.corridor.localhost:8080/__corridor/inject.js";
const fixed = () => "OURS123";

function adapt(...fields: string[]) {
  return adaptCsp(fields, URL_, fixed);
}

describe("adaptCsp", () => {
  it("leaves policies that do not restrict scripts alone", () => {
    expect(adapt()).toEqual({ headers: [], nonce: null, changed: false });
    expect(adapt("img-src 'self'; frame-ancestors 'none'")).toEqual({
      headers: ["img-src 'self'; frame-ancestors 'none'"],
      nonce: null,
      changed: false,
    });
  });
  it("reuses the app's nonce", () => {
    const out = adapt("script-src 'nonce-abc123' 'self'; object-src 'none'");
    expect(out.nonce).toBe("abc123");
    expect(out.changed).toBe(false);
    // A second policy without it gets the URL; a strict-dynamic one gets the nonce.
    const two = adapt(
      "script-src 'nonce-abc123'",
      "default-src 'self'",
      "script-src 'strict-dynamic' 'nonce-zz'",
    );
    expect(two.nonce).toBe("abc123");
    expect(two.headers).toEqual([
      "script-src 'nonce-abc123'",
      `default-src 'self'; script-src-elem 'self' ${URL_}`,
      "script-src 'strict-dynamic' 'nonce-zz' 'nonce-abc123'",
    ]);
  });
  it("adds its own nonce under 'strict-dynamic' without one", () => {
    const out = adapt("script-src 'strict-dynamic' 'sha256-AAAA' https:");
    expect(out.nonce).toBe("OURS123");
    expect(out.headers).toEqual([
      "script-src 'strict-dynamic' 'sha256-AAAA' https: 'nonce-OURS123'",
    ]);
  });
  it("appends the exact URL otherwise, keeping 'unsafe-inline' working", () => {
    const out = adapt("script-src 'self' 'unsafe-inline'; style-src 'self'");
    expect(out.nonce).toBeNull();
    expect(out.headers).toEqual([`script-src 'self' 'unsafe-inline' ${URL_}; style-src 'self'`]);
    expect(adapt("script-src 'none'").headers).toEqual([`script-src ${URL_}`]);
    expect(adapt("script-src-elem 'none'; script-src 'self'").headers).toEqual([
      `script-src-elem ${URL_}; script-src 'self'`,
    ]);
  });
  it("never widens default-src: adds script-src-elem from it", () => {
    const out = adapt("default-src 'none'; img-src data:");
    expect(out.headers).toEqual([`default-src 'none'; img-src data:; script-src-elem ${URL_}`]);
  });
  it("handles comma-separated policies in one field", () => {
    const out = adapt("img-src *, script-src 'self'");
    expect(out.headers).toEqual([`img-src *, script-src 'self' ${URL_}`]);
  });
  it("ignores malformed nonces", () => {
    const out = adapt("script-src 'nonce-a\"b' 'strict-dynamic'");
    expect(out.nonce).toBe("OURS123");
    expect(noncesOf(["'nonce-ok=='", "'nonce-bad!'", "'NONCE-Up'"])).toEqual(["ok==", "Up"]);
  });
});

// --- Seeded fuzz. ---

const NAMES = [
  "script-src",
  "script-src-elem",
  "SCRIPT-SRC",
  "default-src",
  "Default-Src",
  "script-src-attr",
  "style-src",
  "img-src",
  "connect-src",
  "sandbox",
  "report-uri",
  "upgrade-insecure-requests",
  "bad_name!",
  "",
];
const VALUES = [
  "'self'",
  "'none'",
  "'NONE'",
  "'unsafe-inline'",
  "'unsafe-eval'",
  "'strict-dynamic'",
  "'Strict-Dynamic'",
  "'nonce-abc'",
  "'nonce-XyZ09+/='",
  "'nonce-bad!'",
  "'nonce-'",
  "'sha256-AbCd='",
  "https://cdn.example",
  "*",
  "data:",
  "http:",
  "'report-sample'",
  "allow-scripts",
  "/report",
  "junk\u00e9",
];

function randomField(rand: (n: number) => number): string {
  const policies: string[] = [];
  for (let p = rand(3) + 1; p > 0; p--) {
    const directives: string[] = [];
    for (let d = rand(5); d > 0; d--) {
      const parts = [NAMES[rand(NAMES.length)] as string];
      for (let v = rand(4); v > 0; v--) parts.push(VALUES[rand(VALUES.length)] as string);
      directives.push(parts.join([" ", "  ", "\t"][rand(3)]));
    }
    policies.push(directives.join([";", "; ", " ;", ";;"][rand(4)]));
  }
  let field = policies.join([",", ", ", " ,"][rand(3)]);
  if (rand(8) === 0) {
    const at = rand(field.length + 1);
    field = field.slice(0, at) + String.fromCharCode(rand(128)) + field.slice(at);
  }
  return field;
}

const ALSO = [
  {
    chain: ["frame-src", "child-src", "default-src"],
    url: "http://corridor.localhost:8080/__corridor/bridge",
  },
  {
    chain: ["connect-src", "default-src"],
    url: "http://web-01--3000.corridor.localhost:8080/__corridor/config.json",
  },
];

const has = (values: readonly string[], token: string) =>
  values.some((v) => v.toLowerCase() === token.toLowerCase());

/** Directives other than the ones adaptCsp may change, for comparison. */
function others(directives: readonly Directive[], changed: string, also: boolean): Directive[] {
  const extra = also ? ["frame-src", "child-src", "connect-src"] : [];
  return directives.filter(
    (d) => d.name !== changed && d.name !== "script-src-elem" && !extra.includes(d.name),
  );
}

describe("adaptCsp fuzz", () => {
  it("never throws; every policy parses and lets exactly the script in", () => {
    const rand = seededInts(0xc5b1);
    const runs = 6000;
    let changed = 0;
    let byNonce = 0;
    let byUrl = 0;
    let unrestricted = 0;
    let policies = 0;
    let alsoChecked = 0;
    for (let run = 0; run < runs; run++) {
      const fields = Array.from({ length: rand(3) + 1 }, () => randomField(rand));
      const withAlso = run % 2 === 1;
      const out = adaptCsp(fields, URL_, fixed, undefined, withAlso ? ALSO : []);
      expect(out.headers.length).toBe(fields.length);
      if (out.changed) changed++;
      if (out.nonce !== null) expect(out.nonce).toMatch(/^[A-Za-z0-9+/_-]+={0,2}$/);
      fields.forEach((field, f) => {
        const before = field.split(",").map(parsePolicy);
        const after = (out.headers[f] as string).split(",").map(parsePolicy);
        expect(after.length, field).toBe(before.length);
        before.forEach((old, p) => {
          policies++;
          const now = after[p] as Directive[];
          const oldScript = scriptDirective(old);
          if (withAlso) {
            // The bridge and config.json get through wherever a directive governs them.
            for (const extra of ALSO) {
              const governing = (dirs: readonly Directive[]) =>
                extra.chain.map((n) => dirs.find((d) => d.name === n)).find((d) => d);
              if (governing(old) === undefined) continue;
              expect(governing(now)?.values, field).toContain(extra.url);
              alsoChecked++;
            }
          }
          if (oldScript === undefined) {
            unrestricted++;
            if (!withAlso) expect(now, field).toEqual(old);
            return;
          }
          const script = scriptDirective(now);
          expect(script, field).toBeDefined();
          if (script === undefined) return;
          const nonceOk = out.nonce !== null && noncesOf(script.values).includes(out.nonce);
          const urlOk = script.values.includes(URL_);
          if (has(script.values, "'strict-dynamic'")) expect(nonceOk, field).toBe(true);
          else expect(nonceOk || urlOk, field).toBe(true);
          if (nonceOk) byNonce++;
          else byUrl++;
          // Nothing but the script directive (or a new script-src-elem) changed.
          const changedName = oldScript.name === "default-src" ? "" : oldScript.name;
          expect(others(now, changedName, withAlso), field).toEqual(
            others(old, changedName, withAlso),
          );
          // Its old sources are all kept, minus 'none'; at most one source is added.
          // (Unchanged when the policy already allowed the script's nonce.)
          const kept = oldScript.values.filter((v) => v.toLowerCase() !== "'none'");
          if (
            script.values !== oldScript.values &&
            script.values.join() !== oldScript.values.join()
          ) {
            expect(script.values.slice(0, kept.length), field).toEqual(kept);
            expect(script.values.length - kept.length, field).toBe(1);
          }
          // 'unsafe-inline' keeps working where it did: no nonce is added next to it.
          const oldNonces = noncesOf(oldScript.values).length;
          const inlineWorked =
            has(oldScript.values, "'unsafe-inline'") &&
            oldNonces === 0 &&
            !oldScript.values.some((v) => /^'sha(256|384|512)-/i.test(v)) &&
            !has(oldScript.values, "'strict-dynamic'");
          if (inlineWorked) expect(noncesOf(script.values).length, field).toBe(0);
        });
      });
    }
    console.log(
      `csp fuzz: ${runs} header sets, ${policies} policies (${unrestricted} not restricting scripts): script let in by nonce ${byNonce}, by URL ${byUrl}; ${changed} sets changed; bridge/config let in ${alsoChecked} times`,
    );
    expect(byNonce + byUrl + unrestricted).toBe(policies);
  });
});
