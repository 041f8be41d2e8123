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
  it("reads start tag attributes as the HTML tokenizer does", () => {
    // "=" first in an attribute name is part of it: the quote after it opens no value.
    const equalsName = '<html ="><script>app()</script>"><head>';
    expect(at(equalsName)).toBe(equalsName.indexOf("<script>"));
    // Only [\t\n\f\r ] is whitespace: after "=\xa0" the value is unquoted, the quote a char.
    const nbsp = '<html lang=\xa0"><script>app()</script>"><head>';
    expect(at(nbsp)).toBe(nbsp.indexOf("<script>"));
    // Any amount of whitespace between "=" and the quote.
    const spaced = `<html lang=${" ".repeat(40)}"a>b"><head>x`;
    expect(at(spaced)).toBe(spaced.length - 1);
    const tabs = `<head lang\t=\n\f\r '>' data-x="<script>">x`;
    expect(at(tabs)).toBe(tabs.length - 1);
    // A quote inside an unquoted value or a name is a plain char.
    const unquoted = '<html a=b"><script>app()</script>">';
    expect(at(unquoted)).toBe(unquoted.indexOf("<script>"));
    const inName = "<html a'b><head>x";
    expect(at(inName)).toBe(inName.length - 1);
    // Quoted values that abut, and "/" between attributes.
    const abut = '<html a="1"b=\'>\'/c=">"><head>x';
    expect(at(abut)).toBe(abut.length - 1);
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
  it("keeps what it holds decoded as it grows (byte-sized chunks are not quadratic)", async () => {
    // 32 KiB of a comment one byte per chunk: re-joining and re-decoding all that is held on
    // every chunk took about 27 s here; decoding each chunk once, well under a second.
    const n = INSPECT_LIMIT / 2;
    let sent = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= n) {
          controller.enqueue(new TextEncoder().encode("--><head>"));
          controller.close();
          return;
        }
        controller.enqueue(new Uint8Array([sent < 4 ? "<!--".charCodeAt(sent) : 0x78]));
        sent++;
      },
    });
    const reader = injectIntoStream(source, TAG).getReader();
    let length = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.length;
    }
    expect(length).toBe(n + 9 + TAG.length);
  }, 60_000);
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
  // Start tag shapes whose quotes open no value, or whose values hide a script tag.
  '<html ="><script>app()</script>">',
  '<html lang=\xa0"><script>app()</script>">',
  `<html lang=${" ".repeat(20)}"<script>app()</script>">`,
  '<head a=b"><script>app()</script>">',
  "<head a = '<script>app()</script>' =\"x\">",
  '<html/ lang="x>"/>',
  "<head =x>",
  '<html a\'b="c">',
  '<head a="1"b="<script>">',
  "<script>app()</script>",
  "<SCRIPT src=a.js>",
  "<title><script></title>",
];

/** Pieces that do not end where they end when something follows them. */
const MERGING = new Set([
  "<!--",
  "<!doc",
  "<",
  ">",
  "'",
  '"',
  "\xef\xbb\xbf",
  "\xfe\xff",
  '<html ="><script>app()</script>">',
  '<html lang=\xa0"><script>app()</script>">',
  '<head a=b"><script>app()</script>">',
  '<html a\'b="c">',
]);

/**
 * One start or end tag at the text's start as the HTML tokenizer reads it (WHATWG HTML
 * §13.2.5): each item is matched atomically (`(?=(…))\1`), so no other reading is tried. Items:
 * separators ([\t\n\f\r ] and "/"), attributes (a name, whose first char may be "=", then
 * maybe "=" and a value: a quote opens one only right after "=" and whitespace).
 */
const TAG_TOKEN =
  /^<\/?([a-z][^\t\n\f\r />]*)(?:(?=([\t\n\f\r /]+|[^\t\n\f\r />][^\t\n\f\r />=]*(?:[\t\n\f\r ]*=[\t\n\f\r ]*(?:"[^"]*"|'[^']*'|[^\t\n\f\r >"'][^\t\n\f\r >]*)?)?))\2)*>/i;
/** Elements whose content is text up to their end tag. */
const RAW = new Set([
  "script",
  "style",
  "title",
  "textarea",
  "xmp",
  "iframe",
  "noembed",
  "noframes",
]);

/**
 * A reference reading of `text`: where the first script start tag begins (or text.length), and
 * the spans [start, end) of the markup tokens before it (nothing may be inserted inside one).
 */
function firstScript(text: string): { script: number; tokens: [number, number][] } {
  const tokens: [number, number][] = [];
  let pos = 0;
  for (;;) {
    const lt = text.indexOf("<", pos);
    if (lt < 0) return { script: text.length, tokens };
    const rest = text.slice(lt);
    let end: number;
    if (rest.startsWith("<!--")) {
      const m = /^<!--(?:>|->|(?=([\s\S]*?--!?>))\1)/.exec(rest);
      end = m === null ? text.length : lt + m[0].length;
    } else if (rest.startsWith("<!") || rest.startsWith("<?")) {
      const close = text.indexOf(">", lt);
      end = close < 0 ? text.length : close + 1;
    } else if (/^<\/?[a-z]/i.test(rest)) {
      const m = TAG_TOKEN.exec(rest);
      if (m === null) {
        tokens.push([lt, text.length]); // a tag unfinished at the end: emitted never
        return { script: text.length, tokens };
      }
      const name = (m[1] as string).toLowerCase();
      if (rest[1] !== "/" && name === "script") return { script: lt, tokens };
      end = lt + m[0].length;
      if (rest[1] !== "/" && RAW.has(name)) {
        tokens.push([lt, end]);
        const close = new RegExp(`</${name}[\\t\\n\\f\\r />]`, "i").exec(text.slice(end));
        if (close === null) return { script: text.length, tokens };
        pos = end + close.index;
        continue;
      }
    } else {
      pos = lt + 1;
      continue;
    }
    tokens.push([lt, end]);
    if (end >= text.length) return { script: text.length, tokens };
    pos = end;
  }
}

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
  it("never throws, never inserts before an honoured doctype or after an app script, lands on piece boundaries", async () => {
    const rand = seededInts(0x16b1);
    let inserted = 0;
    let none = 0;
    let afterDoctype = 0;
    let mutated = 0;
    let beforeScript = 0;
    const runs = 8000;
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
          const char = rand(8) === 0 ? "\xa0" : String.fromCharCode(rand(128));
          chars.splice(rand(chars.length + 1), rand(2), char);
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
      // Before any script element the tokenizer sees, and never inside markup.
      const reference = firstScript(text);
      expect(found.offset, JSON.stringify(text)).toBeLessThanOrEqual(reference.script);
      if (reference.script < text.length) beforeScript++;
      for (const [start, end] of reference.tokens) {
        const inside = found.offset > start && found.offset < end;
        expect(inside, `${JSON.stringify(text)} at ${found.offset}`).toBe(false);
      }
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
      `html insertion fuzz: ${runs} documents (${mutated} mutated): ${inserted} inserted (${afterDoctype} after a doctype, ${beforeScript} before an app script), ${none} left alone`,
    );
    expect(inserted + none).toBe(runs);
  });
});
