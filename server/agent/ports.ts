// `corridor agent --expose PORTS`: the TCP ports inbound forwarding may reach on 127.0.0.1
// ("22,80,8000-8100"). The policy decides who may reach the node at all; this list narrows what
// the host lends to the mesh. Parsing is strict (a typo must not silently expose or hide a
// port) and bounded (the text and the number of entries).

/** Longest `--expose` text accepted. */
export const MAX_EXPOSE_TEXT = 4096;
/** Most comma-separated entries accepted. */
export const MAX_EXPOSE_ENTRIES = 512;

/** An inclusive range of TCP ports. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** A set of TCP ports, as sorted, disjoint inclusive ranges. */
export class PortSet {
  /** The ranges, sorted by `from`, never overlapping. */
  readonly ranges: readonly PortRange[];

  constructor(ranges: readonly PortRange[]) {
    this.ranges = [...ranges].sort((a, b) => a.from - b.from);
  }

  /** True when `port` is in the set. */
  has(port: number): boolean {
    // Binary search: a few hundred ranges at most, but asked once per new flow.
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid]!;
      if (port < r.from) hi = mid - 1;
      else if (port > r.to) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** The set as `--expose` text ("22,80,8000-8100"). */
  toString(): string {
    return this.ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(",");
  }
}

/** A `--expose` text that is not a port list; the message names the entry and the rule. */
export class PortListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PortListError";
  }
}

const DIGITS = /^[0-9]{1,5}$/;

function portOf(text: string, entry: string): number {
  if (!DIGITS.test(text)) {
    throw new PortListError(
      `--expose: '${entry}' is not a port or a range (expected e.g. 22,80,8000-8100)`,
    );
  }
  const port = Number(text);
  if (port < 1 || port > 65535) {
    throw new PortListError(`--expose: port ${port} in '${entry}' is outside 1-65535`);
  }
  return port;
}

/** Shortens what an error quotes back, so a hostile argument cannot flood the terminal. */
function quote(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/**
 * Parses "22,80,8000-8100" (spaces around entries allowed). Throws PortListError for an empty
 * list or entry, a non-number, a port outside 1-65535, a range whose end is below its start,
 * and a port listed twice (also through overlapping ranges).
 */
export function parsePortList(text: string): PortSet {
  if (text.length > MAX_EXPOSE_TEXT) {
    throw new PortListError(`--expose: the list is longer than ${MAX_EXPOSE_TEXT} characters`);
  }
  if (text.trim() === "") throw new PortListError("--expose: the list is empty");
  const entries = text.split(",");
  if (entries.length > MAX_EXPOSE_ENTRIES) {
    throw new PortListError(`--expose: more than ${MAX_EXPOSE_ENTRIES} entries`);
  }
  const ranges: { from: number; to: number; entry: string }[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === "") throw new PortListError(`--expose: an empty entry in '${quote(text)}'`);
    const shown = quote(entry);
    const dash = entry.indexOf("-");
    let from: number;
    let to: number;
    if (dash < 0) from = to = portOf(entry, shown);
    else {
      from = portOf(entry.slice(0, dash).trim(), shown);
      to = portOf(entry.slice(dash + 1).trim(), shown);
      if (to < from) {
        throw new PortListError(`--expose: range '${shown}' ends below its start`);
      }
    }
    ranges.push({ from, to, entry: shown });
  }
  ranges.sort((a, b) => a.from - b.from || a.to - b.to);
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1]!;
    const cur = ranges[i]!;
    if (cur.from <= prev.to) {
      throw new PortListError(
        prev.entry === cur.entry
          ? `--expose: '${cur.entry}' is listed twice`
          : `--expose: port ${cur.from} is in both '${prev.entry}' and '${cur.entry}'`,
      );
    }
  }
  return new PortSet(ranges.map(({ from, to }) => ({ from, to })));
}
