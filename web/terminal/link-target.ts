// Which links from the terminal may be opened: OSC 8 hyperlinks (whose visible text can say
// anything) and URLs the web-links addon finds in the output. Only http and https, parsed by
// the URL parser; what is shown to the person is the parsed href, not the link's text. Pure.

/** The most characters of a link target accepted (longer ones are not links). */
export const LINK_MAX_CHARS = 2048;

/** A link that may be offered: its normalized href and the host to show prominently. */
export interface LinkTarget {
  href: string;
  host: string;
  /** The URL carried a user name or password ("https://bank.example@evil.example/"). */
  hasCredentials: boolean;
}

/** The target of `uri` when it is an http(s) URL, else null. */
export function linkTarget(uri: string): LinkTarget | null {
  if (uri.length === 0 || uri.length > LINK_MAX_CHARS) return null;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (url.hostname === "") return null;
  return {
    href: url.href,
    host: url.host,
    hasCredentials: url.username !== "" || url.password !== "",
  };
}
