// The engine's cookie jar (worker/http/cookies.ts, docs/cookies.md): real-world Set-Cookie
// forms, document.cookie, SameSite, Secure and limits (persistence: cookies-persist.test.ts).

import { describe, expect, it } from "vitest";
import { CookieJars, cookieServiceKey } from "../../worker/http/cookies.ts";

const WEB = "http://web-01:3000";
const T0 = new Date("2026-06-01T12:00:00Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

describe("service keys", () => {
  it("are host:port of the private URL, ws: sharing http:'s, other schemes refused", () => {
    expect(cookieServiceKey("http://WEB-01:3000/x")).toBe("web-01:3000");
    expect(cookieServiceKey("http://10.8.0.1/")).toBe("10.8.0.1:80");
    expect(cookieServiceKey("ws://web-01:3000/api/kernels/1/channels")).toBe("web-01:3000");
    expect(cookieServiceKey("http://[fd00::1]:8080/")).toBe("[fd00::1]:8080");
    expect(() => cookieServiceKey("file:///etc/passwd")).toThrow(TypeError);
  });

  it("keep services apart, even two ports of one host", () => {
    const jars = new CookieJars();
    jars.setFromResponse(`${WEB}/`, ["sid=a; Path=/"], T0);
    jars.setFromResponse("http://web-01:8080/", ["sid=b; Path=/"], T0);
    expect(jars.cookieHeader(`${WEB}/`, { now: T0 })).toBe("sid=a");
    expect(jars.cookieHeader("http://web-01:8080/", { now: T0 })).toBe("sid=b");
    expect(jars.cookieHeader("http://web-02:3000/", { now: T0 })).toBe("");
    expect(jars.services()).toEqual(["web-01:3000", "web-01:8080"]);
  });
});

describe("Set-Cookie", () => {
  it("honours Path: default path from the URL, longer paths first", () => {
    const jars = new CookieJars();
    const r = jars.setFromResponse(
      `${WEB}/app/login`,
      ["d=1", "root=2; Path=/", "deep=3; Path=/app/x"],
      T0,
    );
    expect(r).toEqual({ stored: 3, rejected: [] });
    expect(jars.cookieHeader(`${WEB}/`, { now: T0 })).toBe("root=2");
    expect(jars.cookieHeader(`${WEB}/app/page`, { now: T0 })).toBe("d=1; root=2");
    expect(jars.cookieHeader(`${WEB}/app/x/y`, { now: T0 })).toBe("deep=3; d=1; root=2");
    expect(jars.cookieHeader(`${WEB}/application`, { now: T0 })).toBe("root=2");
  });

  it("takes a Domain that is the private host (name or IP), refuses another", () => {
    const jars = new CookieJars();
    const named = jars.setFromResponse(
      `${WEB}/`,
      ["a=1; Domain=web-01", "b=2; Domain=.WEB-01", "c=3; Domain=web-02"],
      T0,
    );
    expect(named.stored).toBe(2);
    expect(named.rejected[0]?.reason).toMatch(/not in this host's domain/);
    expect(jars.cookieHeader(`${WEB}/`, { now: T0 })).toBe("a=1; b=2");
    const ip = jars.setFromResponse(
      "http://10.8.0.1:8080/",
      ["i=1; Domain=10.8.0.1", "j=2; Domain=8.0.1"],
      T0,
    );
    expect(ip.stored).toBe(1);
    expect(jars.cookieHeader("http://10.8.0.1:8080/", { now: T0 })).toBe("i=1");
    // Mesh names that are special-use or public suffixes still work (a host called `test`).
    jars.setFromResponse("http://test:80/", ["t=1; Domain=test", "u=2"], T0);
    expect(jars.cookieHeader("http://test/", { now: T0 })).toBe("t=1; u=2");
  });

  it("Max-Age=0 and an Expires in the past delete; Max-Age and Expires expire", () => {
    const jars = new CookieJars();
    jars.setFromResponse(
      `${WEB}/`,
      [
        "a=1; Path=/",
        "b=2; Path=/",
        "c=3; Path=/; Max-Age=60",
        "e=4; Path=/; Expires=Mon, 01 Jun 2026 12:10:00 GMT",
      ],
      T0,
    );
    expect(jars.cookieHeader(`${WEB}/`, { now: T0 })).toBe("a=1; b=2; c=3; e=4");
    jars.setFromResponse(
      `${WEB}/`,
      ["a=; Path=/; Max-Age=0", "b=x; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT"],
      at(1),
    );
    expect(jars.cookieHeader(`${WEB}/`, { now: at(1) })).toBe("c=3; e=4");
    expect(jars.cookieHeader(`${WEB}/`, { now: at(61) })).toBe("e=4");
    expect(jars.cookieHeader(`${WEB}/`, { now: at(601) })).toBe("");
    expect(jars.stats(`${WEB}/`, at(601))).toEqual({ count: 0, bytes: 0 });
  });

  it("Max-Age wins over Expires and counts from when it was set; lifetimes cap at 400 days", () => {
    const jars = new CookieJars();
    jars.setFromResponse(
      `${WEB}/`,
      ["a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=100", "far=1; Max-Age=999999999"],
      T0,
    );
    expect(jars.cookieHeader(`${WEB}/`, { now: at(99) })).toBe("a=1; far=1");
    expect(jars.cookieHeader(`${WEB}/`, { now: at(100) })).toBe("far=1");
    expect(jars.cookieHeader(`${WEB}/`, { now: at(400 * 86400 - 1) })).toBe("far=1");
    expect(jars.cookieHeader(`${WEB}/`, { now: at(400 * 86400) })).toBe("");
  });

  it("keeps HttpOnly cookies from document.cookie but sends them", () => {
    const jars = new CookieJars();
    jars.setFromResponse(`${WEB}/`, ["sid=s3cr3t; Path=/; HttpOnly", "theme=dark; Path=/"], T0);
    expect(jars.cookieHeader(`${WEB}/`, { now: T0 })).toBe("sid=s3cr3t; theme=dark");
    expect(jars.documentCookie(`${WEB}/`, T0)).toBe("theme=dark");
  });

  it("stores and sends Secure cookies (the app origin is a secure context), prefixes enforced", () => {
    const jars = new CookieJars();
    const r = jars.setFromResponse(
      `${WEB}/a`,
      [
        "s=1; Secure; Path=/",
        "__Secure-t=2; Secure; Path=/",
        "__Host-h=3; Secure; Path=/",
        "__Host-bad=4; Secure; Path=/a",
        "__Secure-bad=5",
      ],
      T0,
    );
    expect(r.stored).toBe(3);
    expect(r.rejected.map((x) => x.cookie)).toEqual([
      "__Host-bad=4; Secure; Path=/a",
      "__Secure-bad=5",
    ]);
    expect(jars.cookieHeader(`${WEB}/`, { now: T0 })).toBe("s=1; __Secure-t=2; __Host-h=3");
    expect(jars.documentCookie(`${WEB}/`, T0)).toBe("s=1; __Secure-t=2; __Host-h=3");
    expect(jars.cookieHeader("ws://web-01:3000/socket", { now: T0 })).toBe(
      "s=1; __Secure-t=2; __Host-h=3",
    );
  });

  it("keeps SameSite and applies it per request context (no attribute counts as Lax)", () => {
    const jars = new CookieJars();
    jars.setFromResponse(
      `${WEB}/`,
      [
        "st=1; SameSite=Strict",
        "lx=2; SameSite=lax",
        "no=3; SameSite=None; Secure",
        "def=4",
        "odd=5; SameSite=Bogus",
      ],
      T0,
    );
    expect(jars.cookieHeader(`${WEB}/`, { now: T0 })).toBe("st=1; lx=2; no=3; def=4; odd=5");
    expect(jars.cookieHeader(`${WEB}/`, { now: T0, sameSiteContext: "lax" })).toBe(
      "lx=2; no=3; def=4; odd=5",
    );
    expect(jars.cookieHeader(`${WEB}/`, { now: T0, sameSiteContext: "lax", method: "post" })).toBe(
      "no=3",
    );
    expect(jars.cookieHeader(`${WEB}/`, { now: T0, sameSiteContext: "none" })).toBe("no=3");
    const round = CookieJars.deserialize(jars.serialize(T0), {}, T0);
    expect(round.jars.cookieHeader(`${WEB}/`, { now: T0, sameSiteContext: "lax" })).toBe(
      "lx=2; no=3; def=4; odd=5",
    );
  });

  it("parses real-world forms: quoted values, spaces, commas in Expires, nameless, junk", () => {
    const jars = new CookieJars();
    const r = jars.setFromResponse(
      `${WEB}/`,
      [
        'q="a b"; Path=/',
        "  sp = v1 ;  path = / ; HttpOnly ",
        "ex=1; expires=Wed, 21 Oct 2026 07:28:00 GMT; path=/; secure; samesite=lax",
        "token",
        "=lone",
        "pref=x; Priority=High; Partitioned; Foo=bar",
        "",
        ";;;",
        "bad\u0001=1",
      ],
      T0,
    );
    expect(r.stored).toBe(6);
    expect(r.rejected).toHaveLength(3);
    // `token` and `=lone` are both nameless (Chromium's reading): the second replaces the first.
    expect(jars.cookieHeader(`${WEB}/`, { now: T0 })).toBe('q="a b"; sp=v1; ex=1; lone; pref=x');
  });
});

describe("document.cookie", () => {
  it("sets, replaces and deletes like a browser; HttpOnly neither set nor replaced", () => {
    const jars = new CookieJars();
    jars.setFromResponse(`${WEB}/`, ["sid=server; Path=/; HttpOnly"], T0);
    expect(jars.setFromDocument(`${WEB}/app/`, "a=b; path=/", T0)).toBeUndefined();
    expect(jars.setFromDocument(`${WEB}/app/`, "local=1", T0)).toBeUndefined();
    expect(jars.setFromDocument(`${WEB}/`, "sid=stolen; path=/", T0)).toMatch(/HttpOnly/);
    expect(jars.setFromDocument(`${WEB}/`, "h=1; path=/; HttpOnly", T0)).toMatch(/HttpOnly/);
    expect(jars.documentCookie(`${WEB}/app/`, T0)).toBe("local=1; a=b");
    expect(jars.documentCookie(`${WEB}/`, T0)).toBe("a=b");
    expect(jars.cookieHeader(`${WEB}/`, { now: T0 })).toBe("sid=server; a=b");
    expect(jars.setFromDocument(`${WEB}/`, "a=; path=/; max-age=0", at(1))).toBeUndefined();
    expect(jars.documentCookie(`${WEB}/app/`, at(1))).toBe("local=1");
  });
});

describe("non-ASCII cookies", () => {
  const latin1 = (text: string) => String.fromCharCode(...new TextEncoder().encode(text));

  it("stores document.cookie as UTF-8 bytes: the Cookie header is a Latin-1 byte string, script reads the text", () => {
    const jars = new CookieJars();
    expect(jars.setFromDocument(`${WEB}/`, "v=é/日本; path=/", T0)).toBeUndefined();
    expect(jars.setFromDocument(`${WEB}/`, "名=😀", T0)).toBeUndefined();
    const header = jars.cookieHeader(`${WEB}/`, { now: T0 });
    expect(header).toBe(`v=${latin1("é/日本")}; ${latin1("名")}=${latin1("😀")}`);
    expect(header).not.toMatch(/[\u0100-\uffff]/);
    expect(Buffer.from(header, "latin1").toString("utf8")).toBe("v=é/日本; 名=😀");
    expect(jars.documentCookie(`${WEB}/`, T0)).toBe("v=é/日本; 名=😀");
    // Replaced and deleted under the same (encoded) name.
    expect(jars.setFromDocument(`${WEB}/`, "名=x", T0)).toBeUndefined();
    expect(jars.documentCookie(`${WEB}/`, T0)).toBe("v=é/日本; 名=x");
    expect(jars.setFromDocument(`${WEB}/`, "名=; max-age=0", T0)).toBeUndefined();
    expect(jars.documentCookie(`${WEB}/`, T0)).toBe("v=é/日本");
  });

  it("shows a Set-Cookie's UTF-8 bytes to script as text, and other bytes as U+FFFD", () => {
    const jars = new CookieJars();
    jars.setFromResponse(`${WEB}/`, [`s=${latin1("é/日本")}`, "bad=\u00ff"], T0);
    expect(jars.cookieHeader(`${WEB}/`, { now: T0 })).toBe(`s=${latin1("é/日本")}; bad=\u00ff`);
    expect(jars.documentCookie(`${WEB}/`, T0)).toBe("s=é/日本; bad=\ufffd");
  });

  it("sends a stored cookie beyond Latin-1 (a caller's text string, an older store) as UTF-8 bytes", () => {
    const old = new CookieJars();
    old.setFromResponse(`${WEB}/`, ["t=日本"], T0); // text, not the byte string a server sends
    expect(old.cookieHeader(`${WEB}/`, { now: T0 })).toBe(`t=${latin1("日本")}`);
    expect(old.documentCookie(`${WEB}/`, T0)).toBe("t=日本");
  });
});

describe("limits", () => {
  it("refuses a cookie over 4096 bytes and attributes over 1024, counts UTF-8", () => {
    const jars = new CookieJars();
    const r = jars.setFromResponse(
      `${WEB}/`,
      [
        `big=${"x".repeat(4094)}`,
        `big2=${"x".repeat(4092)}`,
        `u=${"é".repeat(2048)}`,
        `u2=${"é".repeat(2047)}`,
        `p=1; Path=/${"a".repeat(1024)}`,
      ],
      T0,
    );
    expect(r.rejected.map((x) => x.reason)).toEqual([
      "name and value over 4096 bytes",
      "name and value over 4096 bytes",
      "attribute over 1024 bytes",
    ]);
    expect(r.stored).toBe(2);
  });

  it("keeps at most 180 cookies per service, evicting the least recently used", () => {
    const jars = new CookieJars();
    jars.setFromResponse(`${WEB}/`, ["keep=1; Path=/k", "drop=1; Path=/d"], at(0));
    for (let i = 0; i < 178; i++)
      jars.setFromResponse(`${WEB}/`, [`c${i}=${i}; Path=/x`], at(1 + i));
    expect(jars.stats(`${WEB}/`, at(179)).count).toBe(180);
    // Sending a cookie counts as use: `keep` outlives older and newer cookies left unread.
    expect(jars.cookieHeader(`${WEB}/k`, { now: at(179) })).toBe("keep=1");
    jars.setFromResponse(`${WEB}/`, ["new=1; Path=/x", "new2=1; Path=/x"], at(180));
    expect(jars.stats(`${WEB}/`, at(180)).count).toBe(180);
    expect(jars.cookieHeader(`${WEB}/d`, { now: at(181) })).toBe("");
    expect(jars.cookieHeader(`${WEB}/k`, { now: at(181) })).toBe("keep=1");
    const x = jars.cookieHeader(`${WEB}/x`, { now: at(181) });
    expect(x).not.toContain("c0=");
    expect(x).toContain("c1=1");
    expect(x).toContain("new2=1");
  });

  it("bounds a service's bytes and the number of services", () => {
    const jars = new CookieJars({ maxServiceBytes: 10_000, maxServices: 3 });
    for (let i = 0; i < 10; i++)
      jars.setFromResponse(`${WEB}/`, [`k${i}=${"v".repeat(3000)}`], at(i));
    expect(jars.stats(`${WEB}/`, at(10)).bytes).toBeLessThanOrEqual(10_000);
    expect(jars.cookieHeader(`${WEB}/`, { now: at(10) })).toContain("k9=");
    for (const host of ["a", "b", "c"]) jars.setFromResponse(`http://${host}:1/`, ["x=1"], T0);
    expect(jars.services()).toEqual(["a:1", "b:1", "c:1"]);
  });
});
