// The DNS label that names a private service in its app origin (DESIGN §9.4, docs/private-urls.md):
// `http://<label>.<apps domain>/` is the origin of one service, so the label carries the host,
// the port and the scheme, readably. Fields are separated by "--" (mesh names may hold single
// dashes, never two in a row here):
//
//   web-01--3000                 mesh name web-01, port 3000, http
//   10-8-0-1--8080               IPv4 10.8.0.1 (dots as dashes), port 8080, http
//   ip6--fd7a-115c-x-1--8080     IPv6 fd7a:115c::1 (colons as dashes, "::" as "x"), port 8080
//   web-01--8443--https          a trailing "https" field: the service speaks TLS
//
// A label is at most 63 characters of [a-z0-9-] and case-insensitive (decode lowercases). Every
// service has exactly one label (canonical hosts, ports without leading zeros), so one service
// is one origin; anything else is refused with a ServiceLabelError rather than guessed.
// Runs in the page, the engine and Node: no DOM or Node built-ins.

/** The scheme a private service speaks. */
export type ServiceScheme = "http" | "https";

/**
 * A private service: a host of the mesh (its mesh name, or an IPv4 or IPv6 address in canonical
 * form: dotted decimal without leading zeros; RFC 5952 lowercase text without brackets), a TCP
 * port (1-65535) and a scheme.
 */
export interface ServiceAddress {
  host: string;
  port: number;
  scheme: ServiceScheme;
}

/** Why a service cannot be named by a label, or a label names no service; `message` says it. */
export class ServiceLabelError extends Error {
  override name = "ServiceLabelError";
}

/** The longest DNS label (RFC 1035). */
export const MAX_LABEL_LENGTH = 63;

/** The field separator. */
const SEP = "--";
/** The first field of an IPv6 label. */
const IP6_MARKER = "ip6";
/** The trailing field of an https service. */
const HTTPS_MARKER = "https";
/** Stands for "::" in an IPv6 field (never a hex digit, so never part of a group). */
const IP6_GAP = "x";

const MESH_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const DASHED_IPV4 = /^[0-9]{1,3}(?:-[0-9]{1,3}){3}$/;
const DOTTED_IPV4 = /^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$/;
const PORT = /^[1-9][0-9]{0,4}$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/;

function fail(message: string): never {
  throw new ServiceLabelError(message);
}

/** `text` cut for an error message (a label or host is hostile input). */
function shown(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

/** The four octets of a dotted IPv4 address, or undefined when it is not one. */
function ipv4Octets(text: string): number[] | undefined {
  if (!DOTTED_IPV4.test(text)) return undefined;
  const octets = text.split(".").map(Number);
  return octets.every((o) => o <= 255) ? octets : undefined;
}

/** The eight 16-bit groups of an IPv6 address (RFC 4291 text, IPv4 tail allowed), or undefined. */
function ipv6Groups(text: string): number[] | undefined {
  if (!/^[0-9a-f:.]+$/i.test(text) || !text.includes(":")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = ipv4Octets(piece);
        if (v4 === undefined) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (HEX_GROUP.test(piece.toLowerCase())) out.push(Number.parseInt(piece, 16));
      else return undefined;
    }
    return out;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  // "::" stands for at least one zero group.
  const missing = 8 - head.length - tail.length;
  return missing >= 1 ? [...head, ...new Array<number>(missing).fill(0), ...tail] : undefined;
}

/** The longest run of two or more zero groups (the first of equal ones), as RFC 5952 §4.2. */
function zeroRun(groups: readonly number[]): [number, number] | undefined {
  let best: [number, number] | undefined;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i >= 2 && (best === undefined || j - i > best[1] - best[0])) best = [i, j];
    i = j;
  }
  return best;
}

/** The RFC 5952 text of eight groups (lowercase, no leading zeros, longest zero run as "::"). */
function ipv6Text(groups: readonly number[], gap = "::", sep = ":"): string {
  const hex = groups.map((g) => g.toString(16));
  const run = zeroRun(groups);
  if (run === undefined) return hex.join(sep);
  const head = hex.slice(0, run[0]).join(sep);
  const tail = hex.slice(run[1]).join(sep);
  if (gap === "::") return `${head}::${tail}`;
  return [head, gap, tail].filter((part) => part !== "").join(sep);
}

/**
 * The canonical spelling of a host: a mesh name lowercased, an IPv4 address without leading
 * zeros, an IPv6 address in RFC 5952 form without brackets. Throws a ServiceLabelError for
 * anything else (a name with dots, an IPv6 zone, a bracketed or empty host).
 */
export function canonicalHost(host: string): string {
  const lower = host.toLowerCase();
  if (lower.includes(":")) {
    if (lower.includes("%")) {
      fail(`host ${shown(host)}: an IPv6 zone (%...) cannot be part of a private URL`);
    }
    const groups = ipv6Groups(lower);
    if (groups === undefined) fail(`host ${shown(host)} is not an IPv6 address`);
    return ipv6Text(groups);
  }
  if (/^[0-9.]+$/.test(lower) && lower.includes(".")) {
    const octets = ipv4Octets(lower);
    if (octets === undefined) fail(`host ${shown(host)} is not an IPv4 address`);
    return octets.join(".");
  }
  if (lower.includes(".")) {
    fail(
      `host ${shown(host)} has dots: a private URL names a mesh name (one DNS label), an IPv4 or an IPv6 address`,
    );
  }
  if (lower === "" || lower.length > MAX_LABEL_LENGTH || !MESH_NAME.test(lower)) {
    fail(
      `host ${shown(host)} is not a mesh name (a-z, 0-9 and inner dashes, at most ${MAX_LABEL_LENGTH} characters)`,
    );
  }
  return lower;
}

/** The label's host part (one field, or "ip6--<addr>") of a canonical host. */
function hostFields(host: string): string {
  const groups = host.includes(":") ? ipv6Groups(host) : undefined;
  if (groups !== undefined) return `${IP6_MARKER}${SEP}${ipv6Text(groups, IP6_GAP, "-")}`;
  if (ipv4Octets(host) !== undefined) return host.replaceAll(".", "-");
  if (host.includes(SEP)) {
    fail(
      `mesh name ${shown(host)} holds "--", which separates the fields of a private URL's label; rename the host`,
    );
  }
  if (DASHED_IPV4.test(host)) {
    fail(
      `mesh name ${shown(host)} would read as the IPv4 address ${host.replaceAll("-", ".")} in a label; rename the host or use its address`,
    );
  }
  return host;
}

/**
 * The label of a service: `web-01--3000`, `10-8-0-1--8080`, `ip6--fd7a-115c-x-1--8080`,
 * `web-01--8443--https`. Throws a ServiceLabelError, saying why, when the service has none: a
 * host not in canonical form (see canonicalHost; the message names the canonical spelling), a
 * mesh name holding "--" or reading as a dashed IPv4 address, a port outside 1-65535, an
 * unknown scheme, or a label longer than 63 characters. decodeServiceLabel() of the result
 * gives back an equal service.
 */
export function encodeServiceLabel(service: ServiceAddress): string {
  const { host, port, scheme } = service;
  if (scheme !== "http" && scheme !== "https") {
    fail(`scheme ${shown(String(scheme))}: a private URL is http or https`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    fail(`port ${String(port)}: a TCP port is a whole number from 1 to 65535`);
  }
  if (typeof host !== "string") fail("host: expected a string");
  const canonical = canonicalHost(host);
  if (canonical !== host) {
    fail(`host ${shown(host)} is not in canonical form: write ${shown(canonical)}`);
  }
  const label = `${hostFields(host)}${SEP}${port}${scheme === "https" ? `${SEP}${HTTPS_MARKER}` : ""}`;
  if (label.length > MAX_LABEL_LENGTH) {
    fail(
      `label ${shown(label)} would be ${label.length} characters; a DNS label holds at most ${MAX_LABEL_LENGTH} (the host name is too long for a private URL)`,
    );
  }
  return label;
}

/** The host named by a label's host fields (after the port and scheme were taken off). */
function decodeHost(fields: readonly string[], label: string): string {
  if (fields.length === 2 && fields[0] === IP6_MARKER) {
    const text = fields[1]!;
    const parts = text.split("-");
    const gaps = parts.filter((p) => p === IP6_GAP).length;
    if (gaps > 1 || !parts.every((p) => p === IP6_GAP || HEX_GROUP.test(p))) {
      fail(
        `label ${shown(label)}: ${shown(text)} is not an IPv6 address (hex groups joined by "-", "x" for "::")`,
      );
    }
    const gapAt = parts.indexOf(IP6_GAP);
    const head = (gapAt < 0 ? parts : parts.slice(0, gapAt)).map((p) => Number.parseInt(p, 16));
    const tail = gapAt < 0 ? [] : parts.slice(gapAt + 1).map((p) => Number.parseInt(p, 16));
    const missing = 8 - head.length - tail.length;
    const groups =
      gapAt < 0
        ? missing === 0
          ? head
          : undefined
        : missing >= 1
          ? [...head, ...new Array<number>(missing).fill(0), ...tail]
          : undefined;
    if (groups === undefined) fail(`label ${shown(label)}: ${shown(text)} is not an IPv6 address`);
    const canonical = ipv6Text(groups, IP6_GAP, "-");
    if (canonical !== text) {
      fail(`label ${shown(label)} is not canonical: the address is written ${shown(canonical)}`);
    }
    return ipv6Text(groups);
  }
  if (fields.length !== 1) {
    fail(
      `label ${shown(label)} has too many "--" fields (expected host--port, host--port--https or ip6--address--port)`,
    );
  }
  const host = fields[0]!;
  if (DASHED_IPV4.test(host)) {
    const dotted = host.replaceAll("-", ".");
    const octets = ipv4Octets(dotted);
    if (octets === undefined)
      fail(`label ${shown(label)}: ${shown(dotted)} is not an IPv4 address`);
    if (octets.join(".") !== dotted) {
      fail(
        `label ${shown(label)} is not canonical: the address is written ${shown(octets.join("-"))}`,
      );
    }
    return dotted;
  }
  if (host === "" || !MESH_NAME.test(host)) {
    fail(`label ${shown(label)}: ${shown(host)} is not a mesh name (a-z, 0-9 and inner dashes)`);
  }
  return host;
}

/**
 * The service a label names (case-insensitive: the label is lowercased first). Throws a
 * ServiceLabelError, saying why, for a label that is not exactly the encodeServiceLabel() of
 * some service: too long, characters outside [a-z0-9-], no port, "---", a port with leading
 * zeros or outside 1-65535, a host that is neither a mesh name nor an address, or an address
 * not written canonically.
 */
export function decodeServiceLabel(label: string): ServiceAddress {
  if (typeof label !== "string" || label === "") fail("empty label: expected host--port");
  if (label.length > MAX_LABEL_LENGTH) {
    fail(
      `label ${shown(label)} is ${label.length} characters; a DNS label holds at most ${MAX_LABEL_LENGTH}`,
    );
  }
  const lower = label.toLowerCase();
  if (!/^[a-z0-9-]+$/.test(lower)) {
    fail(`label ${shown(label)} holds characters other than a-z, 0-9 and "-"`);
  }
  if (lower.includes("---")) {
    fail(`label ${shown(label)} holds "---": fields are separated by exactly "--"`);
  }
  const fields = lower.split(SEP);
  let scheme: ServiceScheme = "http";
  if (fields.length >= 3 && fields[fields.length - 1] === HTTPS_MARKER) {
    scheme = "https";
    fields.pop();
  }
  if (fields.length < 2) {
    fail(`label ${shown(label)} names no port: expected host--port, e.g. web-01--3000`);
  }
  const portText = fields.pop()!;
  if (!PORT.test(portText) || Number(portText) > 65535) {
    fail(
      `label ${shown(label)}: port ${shown(portText)} is not a number from 1 to 65535 without leading zeros`,
    );
  }
  return { host: decodeHost(fields, label), port: Number(portText), scheme };
}

/** The service's origin on the private network: "http://web-01:3000", "https://[fd7a::1]:8443". */
export function serviceOrigin(service: ServiceAddress): string {
  const host = service.host.includes(":") ? `[${service.host}]` : service.host;
  return `${service.scheme}://${host}:${service.port}`;
}
