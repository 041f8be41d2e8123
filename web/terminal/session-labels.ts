// Where a terminal session goes and how the page names it. Apart from session.ts because both
// the session (its tab's label, learned names) and its panel (session-panel.ts: the bar, the
// clipboard and link notices) need them, and the panel must not import the session.

/** The SSH session a terminal tab opens: network, host, port, user and the keys to offer. */
export interface SessionTarget {
  networkId: string;
  networkName: string;
  host: string;
  /** The name the person knows the host by (a host name of the network), when it has one. */
  hostName?: string;
  port: number;
  user: string;
  /** The SSH keys the person chose to offer ([] = none; absent = the engine's remembered choice). */
  keyIds?: string[];
}

/** How a session's tab names it. */
export interface SessionLabels {
  /** "alice@web-01" (":PORT" after the host when not 22): the host by its name when known. */
  who: string;
  /** The network's name ("mesh", "lab"). */
  network: string;
  /** Both: "alice@web-01 · mesh". */
  label: string;
  /** The whole target for a tooltip: "alice@100.64.0.7:2222 (web-01) on network mesh". */
  full: string;
}

/** The labels of a session to `target`, so tabs to different hosts, users or networks differ. */
export function sessionLabels(target: SessionTarget): SessionLabels {
  const name = target.hostName || target.host;
  const port = target.port === 22 ? "" : `:${target.port}`;
  const hostText = target.host.includes(":") ? `[${target.host}]` : target.host;
  const nameText = name.includes(":") ? `[${name}]` : name;
  const who = `${target.user}@${nameText}${port}`;
  const named = name === target.host ? "" : ` (${name})`;
  return {
    who,
    network: target.networkName,
    label: `${who} · ${target.networkName}`,
    full: `${target.user}@${hostText}${port}${named} on network ${target.networkName}`,
  };
}

/** The address as the panel's bar shows it: "alice@100.64.0.7", "alice@[fd7a::7]:2222". */
export function sessionAddress(target: SessionTarget): string {
  const hostText = target.host.includes(":") ? `[${target.host}]` : target.host;
  return `${target.user}@${hostText}${target.port === 22 ? "" : `:${target.port}`}`;
}
