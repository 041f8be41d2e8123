// Byte classes of RFC 9110 §5.6 shared by the codecs.

const TOKEN_EXTRA = "!#$%&'*+-.^_`|~";

/** tchar of RFC 9110 §5.6.2, as a 256-entry table. */
export const TCHAR: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  for (const ch of TOKEN_EXTRA) t[ch.charCodeAt(0)] = 1;
  return t;
})();

/** True when `s` is a non-empty token (method, header name, transfer coding). */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TCHAR[c] !== 1) return false;
  }
  return true;
}

/** A control byte not allowed in a field value (every CTL but HTAB; includes CR, LF and NUL). */
export function isBadValueByte(c: number): boolean {
  return (c < 0x20 && c !== 0x09) || c === 0x7f;
}

/** Bytes as a latin1 string (each byte one UTF-16 unit): header bytes are not UTF-8 text. */
export function latin1(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = "";
  for (let i = start; i < end; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, Math.min(end, i + 8192)));
  }
  return s;
}

/** Lower-cased header lookup: every value of `name`, in order. */
export function headerValues(
  headers: readonly (readonly [string, string])[],
  name: string,
): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (const [n, v] of headers) if (n.toLowerCase() === lower) out.push(v);
  return out;
}

/** Comma-separated list members of every value of `name`, trimmed, empty ones dropped. */
export function headerList(
  headers: readonly (readonly [string, string])[],
  name: string,
): string[] {
  const out: string[] = [];
  for (const v of headerValues(headers, name)) {
    for (const part of v.split(",")) {
      const t = part.trim();
      if (t !== "") out.push(t);
    }
  }
  return out;
}
