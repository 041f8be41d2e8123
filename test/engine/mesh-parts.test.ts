// The engine mesh's small parsers, alone and fuzzed (seeded, bounded): the host name a browser
// reports from its User-Agent, and the known_hosts built from a peer's published SSH host keys
// (a key from the map must never widen what the lines match: no patterns, no markers).

import { describe, expect, it } from "vitest";
import { checkLoginOptions } from "../../worker/control/login.ts";
import { controlOrigin } from "../../worker/engine/mesh-runtime.ts";
import { mapKnownHosts } from "../../worker/engine/mesh-session.ts";
import { browserHostname } from "../../worker/mesh/hostname.ts";
import { decodeBase64 } from "../../worker/ssh/fingerprint.ts";
import { seededInts } from "../helpers/seeded.ts";

const CHROME_LINUX =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const HEADLESS =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36";
const FIREFOX_WINDOWS =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI_IOS =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const SAFARI_MAC =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";
const EDGE_WINDOWS =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
const CHROME_ANDROID =
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";

/** A login's hostinfo check, as the map client runs it before connecting. */
function acceptedHostname(hostname: string): boolean {
  try {
    // Only the registration fields are read; the key material is not.
    checkLoginOptions({ ephemeral: true } as Parameters<typeof checkLoginOptions>[0], {
      hostname,
      os: "browser",
    });
    return true;
  } catch {
    return false;
  }
}

describe("browserHostname", () => {
  it("names the browser and its system", () => {
    expect(browserHostname(CHROME_LINUX)).toBe("chrome-linux");
    expect(browserHostname(HEADLESS)).toBe("chrome-linux");
    expect(browserHostname(FIREFOX_WINDOWS)).toBe("firefox-windows");
    expect(browserHostname(SAFARI_IOS)).toBe("safari-ios");
    expect(browserHostname(SAFARI_MAC)).toBe("safari-macos");
    expect(browserHostname(EDGE_WINDOWS)).toBe("edge-windows");
    expect(browserHostname(CHROME_ANDROID)).toBe("chrome-android");
    expect(browserHostname(undefined)).toBe("browser");
    expect(browserHostname("")).toBe("browser");
  });

  it("fuzz: 20,000 User-Agents give a short name the login accepts", () => {
    const int = seededInts(1501);
    const pieces = [CHROME_LINUX, FIREFOX_WINDOWS, SAFARI_IOS, "Edg/", "Android", "\u0000", "é"];
    for (let i = 0; i < 20_000; i++) {
      let ua = "";
      const n = int(8);
      for (let j = 0; j < n; j++) {
        ua +=
          int(2) === 0
            ? pieces[int(pieces.length)]!.slice(0, int(120))
            : String.fromCharCode(...Array.from({ length: int(40) }, () => int(0x3000)));
      }
      const name = browserHostname(ua);
      expect(name).toMatch(/^(browser|[a-z]+(-[a-z]+)?)$/);
      expect(acceptedHostname(name)).toBe(true);
    }
  });
});

// An agent's published key (the shape state-dir.ts writes: "TYPE BASE64", no comment).
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const BLOB = decodeBase64(KEY.split(" ")[1]!)!;

describe("mapKnownHosts", () => {
  it("matches the published key for the host at its port, nothing else", () => {
    const known = mapKnownHosts("web-01", 22, [KEY]);
    expect(known.lookup("web-01", 22, "ssh-ed25519", BLOB).status).toBe("match");
    expect(known.lookup("WEB-01", 22, "ssh-ed25519", BLOB).status).toBe("match");
    expect(known.lookup("web-02", 22, "ssh-ed25519", BLOB).status).toBe("unknown");
    const other = BLOB.slice();
    other[other.length - 1]! ^= 1;
    expect(known.lookup("web-01", 22, "ssh-ed25519", other).status).toBe("mismatch");
    const onPort = mapKnownHosts("web-01", 2222, [KEY]);
    expect(onPort.lookup("web-01", 2222, "ssh-ed25519", BLOB).status).toBe("match");
    expect(onPort.lookup("web-01", 22, "ssh-ed25519", BLOB).status).toBe("unknown");
  });

  it("fuzz: 20,000 hostile key lists never throw and never match another host", () => {
    const int = seededInts(1502);
    const tokens = [
      "ssh-ed25519",
      "@revoked",
      "@cert-authority",
      "*",
      "!web-01",
      "web-02,*",
      "|1|abc|def",
      "[web-02]:22",
      KEY.split(" ")[1]!,
      "\n",
      "#",
      " ",
      "AAAA",
    ];
    for (let i = 0; i < 20_000; i++) {
      const keys = Array.from({ length: int(5) }, () =>
        Array.from({ length: int(5) }, () => tokens[int(tokens.length)]).join(
          int(2) === 0 ? " " : "",
        ),
      );
      const known = mapKnownHosts("web-01", 22, keys);
      expect(known.lookup("web-02", 22, "ssh-ed25519", BLOB).status).toBe("unknown");
      expect(known.lookup("web-01", 22, "ssh-ed25519", BLOB).status).not.toBe("revoked");
    }
  });
});

describe("controlOrigin", () => {
  it("is the web origin of the map stream", () => {
    expect(controlOrigin("ws://127.0.0.1:8080/control")).toBe("http://127.0.0.1:8080");
    expect(controlOrigin("wss://corridor.example.com/control")).toBe(
      "https://corridor.example.com",
    );
  });
});
