// The agent's identity SSH server (docs/agent-ssh.md, issue 14 item 5). It serves connections
// the agent accepts on its mesh addresses (net.tcp.listen in the userspace stack): the caller
// is the peer whose mesh address is the connection's source, looked up in the current map;
// nothing the client sends identifies it. The map's ssh rules say which local users that
// caller may be; any auth method the client offers (OpenSSH starts with "none") is accepted
// for an allowed caller, with the credential ignored, and every method is refused for any
// other, with a USERAUTH_BANNER saying why. Sessions run as the chosen local account.

import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import ssh2, { type AuthContext, type Connection, type Server } from "ssh2";
import type { MeshIdentity } from "../types.ts";
import { decideLogin, describeCaller, type LoginDecision, type RunAs } from "./access.ts";
import { sendUserauthBanner } from "./banner.ts";
import { findSftpServer, type SessionHandle, serveSession } from "./session.ts";
import { getentDirectory, type LocalUser, MAX_USER_NAME, type UserDirectory } from "./users.ts";

/** How to build an IdentitySshServer. */
export interface IdentitySshOptions {
  /** The host key, OpenSSH private key text (state-dir.ts HostKey.privateKey). */
  hostKey: string;
  identity: MeshIdentity;
  /** Where a check rule sends people to sign in again ("<server base>/login/check"). */
  checkUrl: string;
  /** "any" when the agent runs as root; else its own user: the only account it can serve. */
  runAs: RunAs;
  log: Logger;
  /**
   * The system's sftp-server (default: the first found of session.ts SFTP_SERVERS, looked up
   * once; none found: SFTP is refused saying so). null: none, whatever is installed.
   */
  sftpServer?: string | null;
  /** util-linux setpriv, to become another user when root (default /usr/bin/setpriv). */
  setpriv?: string;
  /** Local accounts (default: getent passwd). */
  users?: UserDirectory;
  now?: () => number;
  /** A connection not authenticated by then is closed (default 30 s). */
  authTimeoutMs?: number;
  /** Sessions open at once on one connection (default 10). */
  maxSessionsPerConnection?: number;
  /** Connections open at once from one caller (default 16). */
  maxConnectionsPerCaller?: number;
}

/** One connection being served, as a sweep (endWhere) sees it. */
export interface SshConnectionView {
  /** The caller's WireGuard key when the connection opened; undefined: no peer had its address. */
  readonly callerKey: string | undefined;
  /** The caller's node id then (stable across key rotation). */
  readonly callerId: number | undefined;
  /** The connection's source address. */
  readonly address: string;
  /** The local account it logged in as; undefined before authentication. */
  readonly account: LocalUser | undefined;
}

/** A connection's state kept by the server. */
interface OpenConnection extends SshConnectionView {
  account: LocalUser | undefined;
  client: Connection | undefined;
  sessions: Set<SessionHandle>;
  ending: boolean;
  /** Set while ending: disconnects once the last session channel closed. */
  disconnect: (() => void) | undefined;
}

/** How long an ended connection may take to flush its last words before it is reset. */
const REVOKE_GRACE_MS = 1000;

/** Where a connection comes from, as the mesh stack saw it. */
export interface RemoteEnd {
  address: string;
  port: number;
}

// ssh2 is CommonJS: under Node's own ESM loader (the `corridor` binary) only its default
// export exists, so the class comes from there.
const SshServer = ssh2.Server;

const IDENT = "corridor-agent";

/** The SSH server for connections from the mesh; one per agent. */
export class IdentitySshServer {
  private readonly users: UserDirectory;
  private readonly now: () => number;
  private readonly perCaller = new Map<string, number>();
  private readonly open = new Map<Duplex, OpenConnection>();
  private closed = false;

  constructor(private readonly options: IdentitySshOptions) {
    this.users = options.users ?? getentDirectory();
    this.now = options.now ?? Date.now;
    // Parse the key once here, so a bad key fails at start, not at the first connection.
    new SshServer({ hostKeys: [options.hostKey] });
  }

  /** Connections being served now. */
  get connections(): number {
    return this.open.size;
  }

  /**
   * Serves one TCP connection from the mesh (`remote` is its source) until it ends. The
   * stream is destroyed when the SSH connection ends, fails or is refused.
   */
  handle(stream: Duplex, remote: RemoteEnd): void {
    if (this.closed) {
      stream.destroy();
      return;
    }
    const caller = this.options.identity.peerByAddress(remote.address);
    const callerKey = caller?.key ?? `address:${remote.address}`;
    const limit = this.options.maxConnectionsPerCaller ?? 16;
    const count = this.perCaller.get(callerKey) ?? 0;
    const log = this.options.log.child({
      remote: `${remote.address}:${remote.port}`,
      node: caller?.name ?? null,
      nodeKey: caller?.key ?? null,
      user: caller?.user?.email ?? null,
    });
    if (count >= limit) {
      log.warn({ limit }, "ssh_too_many_connections");
      stream.destroy();
      return;
    }
    this.perCaller.set(callerKey, count + 1);
    const entry: OpenConnection = {
      callerKey: caller?.key,
      callerId: caller?.id,
      address: remote.address,
      account: undefined,
      client: undefined,
      sessions: new Set(),
      ending: false,
      disconnect: undefined,
    };
    this.open.set(stream, entry);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.open.delete(stream);
      const left = (this.perCaller.get(callerKey) ?? 1) - 1;
      if (left <= 0) this.perCaller.delete(callerKey);
      else this.perCaller.set(callerKey, left);
    };
    stream.once("close", release);
    stream.on("error", (error) => log.debug({ error: error.message }, "ssh_stream_error"));

    // Counted from the first byte of TCP: a client that never even sends its version line
    // holds a slot too.
    const authTimeoutMs = this.options.authTimeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      log.warn({ afterMs: authTimeoutMs }, "ssh_auth_timeout");
      stream.destroy();
    }, authTimeoutMs);
    timer.unref();
    stream.once("close", () => clearTimeout(timer));

    // One ssh2 Server per connection: its connection listener then knows this remote end
    // without reading ssh2's internals (injectSocket hands the stream to a fresh Client).
    const server = new SshServer({ hostKeys: [this.options.hostKey], ident: IDENT }, (client) =>
      this.serve(client, stream, remote, entry, log, () => clearTimeout(timer)),
    );
    server.injectSocket(stream as Parameters<Server["injectSocket"]>[0]);
  }

  private serve(
    client: Connection,
    stream: Duplex,
    remote: RemoteEnd,
    entry: OpenConnection,
    log: Logger,
    authenticated: () => void,
  ): void {
    entry.client = client;
    client.on("error", (error) => log.debug({ error: error.message }, "ssh_connection_error"));
    client.on("close", () => stream.destroy());

    // One decision per user name asked for (OpenSSH asks again for each method it tries);
    // the map may change between connections, not within one login. ssh2 disconnects a
    // client that changes the user name during authentication, so this holds one entry and
    // a connection costs at most one account lookup.
    const decisions = new Map<string, Promise<{ decision: LoginDecision; account?: LocalUser }>>();
    const refusedTold = new Set<string>();
    let longNameLogged = false;
    let account: LocalUser | undefined;
    client.on("authentication", (ctx: AuthContext) => {
      const username = ctx.username;
      if (username.length > MAX_USER_NAME * 4) {
        if (!longNameLogged) {
          // Logged once per connection (OpenSSH asks again for each method it tries).
          longNameLogged = true;
          log.warn(
            {
              as: `${username.slice(0, 32)}...`,
              length: username.length,
              method: ctx.method,
              outcome: "bad-user-name",
              reason: `the user name is ${username.length} characters long (at most ${MAX_USER_NAME})`,
            },
            "ssh_login_refused",
          );
        }
        ctx.reject([]);
        return;
      }
      let pending = decisions.get(username);
      if (pending === undefined) {
        pending = this.decide(username, remote);
        decisions.set(username, pending);
        void pending.then(({ decision }) => this.logDecision(log, username, ctx.method, decision));
      }
      void pending.then(({ decision, account: found }) => {
        try {
          if (decision.allowed) {
            account = found;
            ctx.accept();
            return;
          }
          if (!refusedTold.has(username)) {
            refusedTold.add(username);
            sendUserauthBanner(client, decision.message);
          }
          // No method left: the client stops trying ("Permission denied ()") instead of
          // offering keys and passwords that cannot change the answer.
          ctx.reject([]);
        } catch (error) {
          // The client left while the account was looked up: nothing to answer.
          log.debug(
            { error: error instanceof Error ? error.message : String(error) },
            "ssh_auth_abandoned",
          );
        }
      });
    });

    client.on("ready", () => {
      authenticated();
      const user = account!;
      entry.account = user;
      const sessionLog = log.child({ as: user.name });
      let sessions = 0;
      const max = this.options.maxSessionsPerConnection ?? 10;
      client.on("session", (accept, reject) => {
        if (sessions >= max) {
          sessionLog.warn({ limit: max }, "ssh_too_many_sessions");
          reject();
          return;
        }
        if (entry.ending) {
          reject();
          return;
        }
        sessions++;
        const session = accept();
        const handle = serveSession(session, {
          account: user,
          sftpServer: this.sftpServer(),
          setpriv: this.options.setpriv ?? "/usr/bin/setpriv",
          log: sessionLog,
        });
        entry.sessions.add(handle);
        session.once("close", () => {
          sessions--;
          entry.sessions.delete(handle);
          if (entry.sessions.size === 0) entry.disconnect?.();
        });
      });
      // Port forwarding in either direction is not offered. With no "tcpip" listener ssh2
      // answers a direct-tcpip open with "administratively prohibited" (a listener's reject
      // would say "connect failed", as if the target were down).
      client.on("request", (_accept, reject, name) => {
        sessionLog.info({ request: name }, "ssh_request_refused");
        reject?.();
      });
    });
  }

  private async decide(
    username: string,
    remote: RemoteEnd,
  ): Promise<{ decision: LoginDecision; account?: LocalUser }> {
    // Looked up again at each login: the map may have changed since the connection opened.
    const caller = this.options.identity.peerByAddress(remote.address);
    let found: LocalUser | undefined;
    let lookupError: string | undefined;
    try {
      // A source that is no peer is refused whatever the name: no lookup for it.
      if (caller !== undefined) found = await this.users.lookup(username);
    } catch (error) {
      lookupError = error instanceof Error ? error.message : String(error);
    }
    const decision = decideLogin({
      caller,
      address: remote.address,
      rules: this.options.identity.sshRules(),
      requested: username,
      account: found,
      now: this.now(),
      runAs: this.options.runAs,
      checkUrl: this.options.checkUrl,
    });
    if (lookupError !== undefined && decision.allowed) {
      // The rules allow it but the account cannot be read: refuse rather than guess.
      const who = caller !== undefined ? describeCaller(caller, remote.address) : remote.address;
      return {
        decision: {
          allowed: false,
          outcome: "no-such-user",
          message: `${who} may not log in as ${username}: the account could not be looked up (${lookupError}).`,
        },
      };
    }
    return found !== undefined ? { decision, account: found } : { decision };
  }

  private logDecision(
    log: Logger,
    username: string,
    method: string,
    decision: LoginDecision,
  ): void {
    const fields = { as: username, method, outcome: decision.outcome };
    if (decision.allowed) log.info(fields, "ssh_login");
    else log.warn({ ...fields, reason: decision.message }, "ssh_login_refused");
  }

  private foundSftp: { path: string | undefined } | undefined;

  /** The sftp-server sessions run: the option, else the first found (looked up once). */
  private sftpServer(): string | undefined {
    const option = this.options.sftpServer;
    if (option === null) return undefined;
    if (option !== undefined) return option;
    this.foundSftp ??= { path: findSftpServer() };
    return this.foundSftp.path;
  }

  /**
   * Ends every connection for which `reason` gives a sentence (its access was revoked: the
   * caller left the map, the policy no longer lets it reach this port or be this user). Each
   * session gets "access revoked: <sentence>" on its stderr and exit status 255 and its process
   * is hung up, the connection is disconnected, and its stream is reset after a short grace
   * (a peer gone from the map acknowledges nothing). Returns how many were ended.
   */
  endWhere(reason: (connection: SshConnectionView) => string | undefined): number {
    let ended = 0;
    for (const [stream, entry] of this.open) {
      if (entry.ending) continue;
      const why = reason(entry);
      if (why === undefined) continue;
      entry.ending = true;
      ended++;
      this.options.log.info(
        {
          remote: entry.address,
          nodeKey: entry.callerKey ?? null,
          as: entry.account?.name ?? null,
          sessions: entry.sessions.size,
          reason: why,
        },
        "ssh_access_revoked",
      );
      for (const session of entry.sessions) session.revoke(`access revoked: ${why}`);
      // Disconnecting at once would lose the sessions' last words: OpenSSH's client exits at
      // the DISCONNECT before writing out what it received just before. So the connection is
      // ended once the client closed every session channel (it does on exit-status), or reset
      // by the grace timer below if it never does.
      let disconnected = false;
      entry.disconnect = () => {
        if (disconnected) return;
        disconnected = true;
        try {
          entry.client?.end();
        } catch {
          // Already closing.
        }
      };
      if (entry.sessions.size === 0) entry.disconnect();
      const timer = setTimeout(() => stream.destroy(), REVOKE_GRACE_MS);
      timer.unref();
      stream.once("close", () => clearTimeout(timer));
    }
    return ended;
  }

  /** Stops taking connections and ends those open. */
  close(): void {
    this.closed = true;
    for (const stream of this.open.keys()) stream.destroy();
    this.open.clear();
    this.perCaller.clear();
  }
}
