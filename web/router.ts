// Deep links in the URL fragment: #/ssh/USER@HOST or #/ssh/USER@HOST:PORT (IPv6 in brackets:
// #/ssh/USER@[fd00::1]:2222). The fragment never reaches a server.

export interface SshLink {
  user: string;
  host: string;
  port: number;
}

export function parseSshLink(hash: string): SshLink | null {
  const match = /^#\/ssh\/(.+)$/.exec(hash);
  if (!match?.[1]) return null;
  let text: string;
  try {
    text = decodeURIComponent(match[1]);
  } catch {
    return null;
  }
  const at = text.lastIndexOf("@");
  if (at <= 0) return null;
  const user = text.slice(0, at);
  const rest = text.slice(at + 1);
  let host = rest;
  let port = 22;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracketed?.[1]) {
    host = bracketed[1];
    if (bracketed[2]) port = Number(bracketed[2]);
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon > 0 && rest.indexOf(":") === colon) {
      host = rest.slice(0, colon);
      port = Number(rest.slice(colon + 1));
    }
  }
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { user, host, port };
}
