// The share link parser and builder (worker/control/share-link.ts): each way a link can be
// damaged gets its own code and sentence; white space around a pasted link is fine.

import { describe, expect, it } from "vitest";
import { buildShareLink, parseShareLink } from "../../worker/control/share-link.ts";

const ID = "AbCdEfGhIjKlMnOpQrSt_-";
const SECRET = "0123456789abcdefghijABCDEFGHIJ-_0123456789x";

describe("share links", () => {
  it("builds and parses https://HOST/s/<id>#<secret>", () => {
    const url = buildShareLink("https://corridor.example.com/some/path", ID, SECRET);
    expect(url).toBe(`https://corridor.example.com/s/${ID}#${SECRET}`);
    expect(parseShareLink(`  ${url}\n`)).toEqual({
      ok: true,
      link: { origin: "https://corridor.example.com", id: ID, secret: SECRET },
    });
    expect(parseShareLink(`http://127.0.0.1:8080/s/${ID}#${SECRET}`)).toMatchObject({
      ok: true,
      link: { origin: "http://127.0.0.1:8080" },
    });
    expect(() => buildShareLink("https://h", "short", SECRET)).toThrow(TypeError);
    expect(() => buildShareLink("https://h", ID, "short")).toThrow(TypeError);
  });

  it("names what is wrong", () => {
    const code = (text: string) => {
      const r = parseShareLink(text);
      return r.ok ? "ok" : r.code;
    };
    const base = "https://corridor.example.com";
    expect(code("x".repeat(3000))).toBe("too_long");
    expect(code("corridor.example.com/s/x")).toBe("not_a_url");
    expect(code(`ftp://corridor.example.com/s/${ID}#${SECRET}`)).toBe("bad_scheme");
    expect(code(`https://u:p@corridor.example.com/s/${ID}#${SECRET}`)).toBe("credentials");
    expect(code(`${base}/s/${ID}?x=1#${SECRET}`)).toBe("query");
    expect(code(`${base}/share/${ID}#${SECRET}`)).toBe("bad_path");
    expect(code(`${base}/s/${ID}/#${SECRET}`)).toBe("bad_path");
    expect(code(`${base}/s/${ID.slice(1)}#${SECRET}`)).toBe("bad_id");
    expect(code(`${base}/s/${ID}`)).toBe("no_secret");
    expect(code(`${base}/s/${ID}#`)).toBe("no_secret");
    expect(code(`${base}/s/${ID}#${SECRET.slice(1)}`)).toBe("bad_secret");
    expect(code(`${base}/s/${ID}#${SECRET}=`)).toBe("bad_secret");
    expect(parseShareLink(`${base}/s/${ID}`)).toEqual({
      ok: false,
      code: "no_secret",
      message: "this link lacks its secret (the part after #): copy the whole link",
    });
  });
});
