// The host name a browser's node reports at login: short and telling the person which of their
// browsers it is ("chrome-linux", "firefox-windows", "safari-ios"), from the User-Agent; just
// "browser" when the User-Agent says nothing usable. The control server derives the unique
// mesh name from it ("chrome-linux-2" for the second).

const BROWSERS: readonly [RegExp, string][] = [
  [/\bEdg(e|A|iOS)?\//, "edge"],
  [/\bOPR\//, "opera"],
  [/\bFirefox\/|\bFxiOS\//, "firefox"],
  [/Chrom(e|ium)\/|\bCriOS\//, "chrome"],
  [/\bSafari\//, "safari"],
];

const SYSTEMS: readonly [RegExp, string][] = [
  [/\bAndroid\b/, "android"],
  [/\b(iPhone|iPad|iPod)\b/, "ios"],
  [/\bCrOS\b/, "chromeos"],
  [/\bWindows\b/, "windows"],
  [/\bMac OS X\b|\bMacintosh\b/, "macos"],
  [/\bLinux\b/, "linux"],
];

/** "BROWSER-SYSTEM" from a User-Agent string, either part left out when unknown; "browser" at worst. */
export function browserHostname(userAgent: string | undefined): string {
  const ua = (userAgent ?? "").slice(0, 512);
  const browser = BROWSERS.find(([re]) => re.test(ua))?.[1];
  const system = SYSTEMS.find(([re]) => re.test(ua))?.[1];
  const parts = [browser, system].filter((p): p is string => p !== undefined);
  return parts.length === 0 ? "browser" : parts.join("-");
}
