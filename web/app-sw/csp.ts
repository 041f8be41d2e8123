// The Content-Security-Policy adaptation of the app origin's service worker (docs/private-urls.md,
// "Service worker and injected script"): an HTML page gets one extra `<script src=
// "/__corridor/inject.js">` right after its head start tag, and every enforced policy must let
// exactly that script run while allowing nothing else it did not allow before.
//
// Per policy (a header field may carry several, comma-separated, CSP3 §2.2), the directive that
// governs a script element is the first of script-src-elem, script-src, default-src present:
//   - none of them: scripts are not restricted; nothing changes;
//   - the policy already allows our nonce: nothing changes;
//   - it holds 'strict-dynamic' (URLs are ignored then): our nonce is added (the app's own nonce
//     when any policy has one, so the script carries a single nonce attribute all policies know;
//     else one made here). Adding a nonce there changes nothing else: 'strict-dynamic' already
//     turns 'unsafe-inline' off;
//   - otherwise: the exact URL of inject.js is added (a nonce would switch 'unsafe-inline' off).
// A change never lands in default-src (it would reach styles, images and the rest): a new
// script-src-elem is added instead, holding default-src's sources plus ours. 'none' is dropped
// from a list that gains a source. The same way, exact URLs the page script itself needs (the
// Corridor bridge iframe and /__corridor/config.json, for requestAppPort) are added to the
// directives that govern them (AlsoAllow). Pure (no DOM), so Node tests and fuzzers run it.

/** A base64 nonce value as CSP3's base64-value grammar allows. */
const NONCE_VALUE = /^[A-Za-z0-9+/_-]+={0,2}$/;
/** A directive name (CSP3 §2.2.1). */
const DIRECTIVE_NAME = /^[A-Za-z0-9-]+$/;
const ASCII_WS = /[\t\n\f\r ]+/;

/** One directive: its name (lowercase) and source expressions, as written. */
export interface Directive {
  name: string;
  values: string[];
}

/** Splits one serialized policy into directives, as CSP3 §2.2.1 parses it (first name wins). */
export function parsePolicy(policy: string): Directive[] {
  const out: Directive[] = [];
  const seen = new Set<string>();
  for (const token of policy.split(";")) {
    const parts = token
      .trim()
      .split(ASCII_WS)
      .filter((p) => p !== "");
    const name = parts[0]?.toLowerCase();
    if (name === undefined || !DIRECTIVE_NAME.test(name) || seen.has(name)) continue;
    seen.add(name);
    out.push({ name, values: parts.slice(1) });
  }
  return out;
}

/** The directive that governs `<script src>` in a policy, if any. */
export function scriptDirective(directives: readonly Directive[]): Directive | undefined {
  for (const name of ["script-src-elem", "script-src", "default-src"]) {
    const found = directives.find((d) => d.name === name);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The nonce values a source list names (well-formed ones only). */
export function noncesOf(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const value of values) {
    const m = /^'nonce-(.+)'$/i.exec(value);
    if (m?.[1] !== undefined && NONCE_VALUE.test(m[1])) out.push(m[1]);
  }
  return out;
}

const isStrictDynamic = (value: string) => value.toLowerCase() === "'strict-dynamic'";

/** What adaptCsp decided. */
export interface CspAdaptation {
  /** The header values to send, one per field received, in order. */
  headers: string[];
  /** The nonce attribute the script must carry, or null for none. */
  nonce: string | null;
  /** True when some policy was changed. */
  changed: boolean;
}

/**
 * Adapts the Content-Security-Policy field values of an HTML response so that the script at
 * `scriptUrl` (absolute, on the page's origin) may run. `makeNonce` is called at most once, when
 * a policy needs a nonce and no policy has one to reuse; `preset` is the nonce the script carries
 * already (the enforced policies' choice, when adapting report-only ones). Never throws;
 * policies it cannot read are passed through (the browser ignores them too).
 */
export function adaptCsp(
  fields: readonly string[],
  scriptUrl: string,
  makeNonce: () => string,
  preset?: string,
  also: readonly AlsoAllow[] = [],
): CspAdaptation {
  const parsed = fields.map((field) => field.split(",").map(parsePolicy));
  // The app's own nonce, when some policy's script directive names one: reused for all.
  let nonce: string | null = preset ?? null;
  let needNonce = false;
  for (const policies of parsed) {
    for (const directives of policies) {
      const script = scriptDirective(directives);
      if (script === undefined) continue;
      nonce ??= noncesOf(script.values)[0] ?? null;
      if (script.values.some(isStrictDynamic)) needNonce = true;
    }
  }
  if (needNonce && nonce === null) nonce = makeNonce();
  let changed = false;
  const headers = fields.map((field, f) => {
    const policies = parsed[f] as Directive[][];
    let fieldChanged = false;
    const out = policies.map((directives) => {
      let result = directives;
      const script = scriptDirective(directives);
      if (script !== undefined && !(nonce !== null && noncesOf(script.values).includes(nonce))) {
        const add =
          script.values.some(isStrictDynamic) && nonce !== null ? `'nonce-${nonce}'` : scriptUrl;
        result = withSource(directives, script, "script-src-elem", add);
      }
      for (const extra of also) {
        const found = extra.chain
          .map((name) => result.find((d) => d.name === name))
          .find((d) => d !== undefined);
        if (found === undefined || found.values.includes(extra.url)) continue;
        result = withSource(result, found, extra.chain[0] as string, extra.url);
      }
      if (result === directives) return null;
      fieldChanged = true;
      return result;
    });
    if (!fieldChanged) return field;
    changed = true;
    const original = field.split(",");
    return out
      .map((directives, p) =>
        directives === null ? (original[p] ?? "").trim() : serializePolicy(directives),
      )
      .join(", ");
  });
  return { headers, nonce, changed };
}

/**
 * Another exact URL a page of the origin must reach: `chain` lists the directives that govern
 * it, most specific first (["frame-src", "child-src", "default-src"]); the URL is added to the
 * first present, or, when that is default-src, to a new directive named chain[0].
 */
export interface AlsoAllow {
  chain: readonly string[];
  url: string;
}

/** `directives` with `source` added to `governing` (a new `specific` instead of default-src). */
function withSource(
  directives: Directive[],
  governing: Directive,
  specific: string,
  source: string,
): Directive[] {
  const values = [...governing.values.filter((v) => v.toLowerCase() !== "'none'"), source];
  if (governing.name === "default-src") return [...directives, { name: specific, values }];
  return directives.map((d) => (d === governing ? { name: d.name, values } : d));
}

/** Serializes directives back into one policy. */
export function serializePolicy(directives: readonly Directive[]): string {
  return directives.map((d) => [d.name, ...d.values].join(" ")).join("; ");
}

/** A fresh nonce: 16 random bytes in base64. */
export function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}
