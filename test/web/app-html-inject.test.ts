// The app origin service worker's insertion of its page script into HTML (web/app-sw/
// html-inject.ts): where it goes, streaming with any chunking, the 64 KiB limit, and a seeded
// fuzz (never throws, never before a doctype the parser honours, always at a token boundary).

import { describe, expect, it } from "vitest";
import {
  escapeAttribute,
  findInsertion,
  INSPECT_LIMIT,
  injectIntoStream,
  scriptTag,
} from "../../web/app-sw/html-inject.ts";
import { seededInts } from "../helpers/seeded.ts";

const TAG = '<script src="/__corridor/inject.js"></script>';

function at(text: string): number | string {
  const found = findInsertion(text, "complete");
  return found.kind === "at" ? found.offset : found.kind;
}

/** Runs `text` (Latin-1) through injectIntoStream in the given chunk sizes. */
async function streamed(text: string, sizes: readonly number[]): Promise<string> {
  const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
  let i = 0;
  let k = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i >= bytes.length) {
        controller.close();
        return;
      }
      const n = Math.max(1, sizes[k++ % sizes.length] ?? 1);
      controller.enqueue(bytes.slice(i, i + n));
      i += n;
    },
  });
  const out: number[] = [];
  const reader = injectIntoStream(source, TAG).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    for (const b of value) out.push(b);
  }
  let s = "";
  for (const b of out) s += String.fromCharCode(b);
  return s;
}

describe("findInsertion", () => {
  it("goes right after the head start tag", () => {
    const doc = '<!DOCTYPE html>\n<html lang="en">\n<head data-x=">">\n<title>x</title>';
    expect(at(doc)).toBe(doc.indexOf("<title>") - 1);
    expect(at("<head><meta>")).toBe(6);
    expect(at("<HTML><HEAD >x")).toBe(13);
  });
  it("goes after the doctype and html tag when there is no head", () => {
    expect(at("<!doctype html><body>hi")).toBe(15);
    expect(at("<!doctype html><html><body>")).toBe(21);
    expect(at("<!doctype html><html><header>")).toBe(21);
    expect(at("hello")).toBe(0);
    expect(at("")).toBe(0);
  });
  it("skips BOM, whitespace, comments and processing instructions", () => {
    expect(at("\xef\xbb\xbf<!doctype html><head>")).toBe(24);
    expect(at("<!-- <head> --> <!doctype html> <!--x--> <head>x")).toBe(47);
    expect(at("<!--> <!---> <!-- a --!> <?xml v?><!doctype html>x")).toBe(49);
    expect(at("<!doctype html><html><!-- c --><head>")).toBe(37);
  });
  it("never inserts before a doctype", () => {
    // A doctype that may still follow an unfinished comment at the limit: no insertion.
    const big = `<!-- ${"x".repeat(INSPECT_LIMIT)}`;
    expect(findInsertion(big.slice(0, INSPECT_LIMIT), "limit").kind).toBe("none");
    expect(findInsertion("<!doctype html", "complete").kind).toBe("none");
    // After a doctype, an unfinished comment at the limit is fine to insert before.
    const after = `<!doctype html><!-- ${"x".repeat(INSPECT_LIMIT)}`.slice(0, INSPECT_LIMIT);
    expect(findInsertion(after, "limit")).toEqual({ kind: "at", offset: 15 });
  });
  it("asks for more while the answer is unknown", () => {
    for (const prefix of [
      "",
      "\xef",
      "<",
      "<!",
      "<!do",
      "<!doctype html",
      "<!doctype html><",
      "<h",
      "<html><he",
      "<head",
      "<!-- x",
    ]) {
      expect(findInsertion(prefix, "partial").kind, prefix).toBe("more");
    }
  });
  it("leaves UTF-16 documents alone", () => {
    expect(at("\xff\xfe<\x00h\x00")).toBe("none");
  });
});

describe("script tag", () => {
  it("escapes the cookie as ASCII", () => {
    expect(escapeAttribute('a"b<&>é日')).toBe("a&quot;b&lt;&amp;&gt;&#xe9;&#x65e5;");
    expect(scriptTag("/__corridor/inject.js", "a=1", "n+/=")).toBe(
      '<script src="/__corridor/inject.js" nonce="n+/=" data-cookie="a=1"></script>',
    );
  });
});

describe("injectIntoStream", () => {
  it("inserts at the same point whatever the chunking", async () => {
    const doc = '<!doctype html><html><head lang="x"><title>t</title></head><body>b</body></html>';
    const want = doc.replace('<head lang="x">', `<head lang="x">${TAG}`);
    for (const sizes of [[1], [2, 3], [7], [1000]]) {
      expect(await streamed(doc, sizes)).toBe(want);
    }
  });
  it("passes the rest through after the first 64 KiB", async () => {
    const doc = `<!-- ${"y".repeat(INSPECT_LIMIT * 2)} --><!doctype html>`;
    expect(await streamed(doc, [4096])).toBe(doc);
    const late = `<!doctype html>${" ".repeat(INSPECT_LIMIT * 2)}<head>`;
    const out = await streamed(late, [5000]);
    expect(out).toBe(`<!doctype html>${TAG}${" ".repeat(INSPECT_LIMIT * 2)}<head>`);
  });
  it("injects into an empty body", async () => {
    expect(await streamed("", [1])).toBe(TAG);
  });
});

// --- Seeded fuzz. ---

const PIECES = [
  "\xef\xbb\xbf",
  " ",
  "\n\t",
  "<!-- c -->",
  "<!-- <head> -->",
  "<!-->",
  "<!--->",
  "<!-- a --!>",
  "<!--",
  "<?xml version='1.0'?>",
  "<!bogus>",
  "<!DOCTYPE html>",
  "<!doctype HTML PUBLIC '-//W3C//DTD'>",
  "<!doc",
  "<html>",
  '<html lang="a>b">',
  "<HTML\nclass=x>",
  "<head>",
  "<head data-x='>'>",
  "<HEAD/>",
  "<header>",
  "<headx>",
  "<htmlx>",
  "<meta charset=utf-8>",
  "<title>x</title>",
  "text",
  "<",
  ">",
  "'",
  '"',
  "<script>var s='<head>'</script>",
  "\xfe\xff",
];

/** Pieces that do not end where they end when something follows them. */
const MERGING = new Set(["<!--", "<!doc", "<", ">", "'", '"', "\xef\xbb\xbf", "\xfe\xff"]);

/**
 * The start of the doctype the HTML parser honours (only trivia before it), or -1. Each comment
 * is matched atomically (`(?=(…))\1`): a comment ends at its first end, never a later one.
 */
function honouredDoctype(text: string): number {
  const m =
    /^(?:\xef\xbb\xbf)?(?:[\t\n\f\r ]|(?=(<!--(?:>|->|(?:(?!--!?>)[\s\S])*--!?>)))\1|<\?[^>]*>|<!(?!--)(?!doctype)[^>]*>)*<!doctype/i.exec(
      text,
    );
  return m === null ? -1 : m[0].length - "<!doctype".length;
}

describe("findInsertion fuzz", () => {
  it("never throws, never inserts before an honoured doctype, lands on piece boundaries", async () => {
    const rand = seededInts(0x16b1);
    let inserted = 0;
    let none = 0;
    let afterDoctype = 0;
    let mutated = 0;
    const runs = 6000;
    for (let run = 0; run < runs; run++) {
      const count = rand(8);
      let text = "";
      const boundaries = new Set([0]);
      let merging = false; // a piece that runs into the next one (an unfinished construct)
      for (let i = 0; i < count; i++) {
        const piece = PIECES[rand(PIECES.length)] as string;
        merging ||= MERGING.has(piece);
        text += piece;
        boundaries.add(text.length);
      }
      const mutate = rand(4) === 0;
      if (mutate) {
        mutated++;
        const chars = [...text];
        for (let i = rand(3) + 1; i > 0; i--) {
          chars.splice(rand(chars.length + 1), rand(2), String.fromCharCode(rand(128)));
        }
        text = chars.join("");
      }
      const found = findInsertion(text, "complete");
      const doctype = honouredDoctype(text);
      if (found.kind === "none") {
        none++;
        continue;
      }
      expect(found.kind, text).toBe("at");
      if (found.kind !== "at") continue;
      inserted++;
      expect(found.offset).toBeGreaterThanOrEqual(0);
      expect(found.offset).toBeLessThanOrEqual(text.length);
      if (doctype >= 0) {
        expect(found.offset, JSON.stringify(text)).toBeGreaterThan(doctype);
        afterDoctype++;
      }
      if (!mutate && !merging)
        expect(boundaries.has(found.offset), JSON.stringify(text)).toBe(true);
      // Partial prefixes never contradict the whole: "more", or the same point.
      const cut = rand(text.length + 1);
      const partial = findInsertion(text.slice(0, cut), "partial");
      if (partial.kind === "at") expect(partial.offset).toBe(found.offset);
      // Streaming in random chunks gives the same document.
      if (run % 10 === 0) {
        const out = await streamed(text, [rand(5) + 1, rand(20) + 1]);
        expect(out).toBe(text.slice(0, found.offset) + TAG + text.slice(found.offset));
      }
    }
    console.log(
      `html insertion fuzz: ${runs} documents (${mutated} mutated): ${inserted} inserted (${afterDoctype} after a doctype), ${none} left alone`,
    );
    expect(inserted + none).toBe(runs);
  });
});
