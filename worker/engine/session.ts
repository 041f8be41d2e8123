// One terminal session: TCP through a network's interface, our SSH client with the page's
// decisions (host key, password, keyboard-interactive) asked through SessionUi, a pty and a
// shell, and the terminal bytes on a MessagePort (TerminalMessage) both ways.

import type { SessionRequest, SessionUi } from "../api.ts";
import type { CryptoCore } from "../crypto/index.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import type { NetInterface } from "../net/interface.ts";
import { SshClient } from "../ssh/client.ts";
import { hostKeyVerifier, preferKnownAlgorithms } from "../ssh/host-key-policy.ts";
import type { HostKeyInfo } from "../ssh/kex/driver.ts";
import type { UserKey } from "../ssh/keys/user-key.ts";
import type { KnownHosts } from "../ssh/known-hosts.ts";
import type { SftpClient } from "../ssh/sftp/client.ts";
import { SshAuthError } from "../ssh/userauth.ts";
import { parseIp } from "../wireguard/ip-address.ts";
import { type LiveHandle, UiSwitch } from "./live-sessions.ts";
import { TerminalPump } from "./terminal-pump.ts";

/**
 * The SSH window of a terminal session. A terminal shows output far slower than a bulk
 * transfer moves it, so a small window costs it nothing, while a large one costs the server:
 * OpenSSH's sshd keeps what the window allows, and the path cannot take yet, in a buffer it
 * reallocates and copies as it grows. With the connection's 4 MiB, bench:web's terminal part
 * (sshd on the same 2 cores) saw sshd spend ~60% of a core, 80% of it in memmove and page
 * faults, and the page got 2.1 MB/s; with 512 KiB sshd left the profile and the page got
 * 3.1 MB/s. 512 KiB still allows 10 MB/s at a 50 ms round trip.
 */
export const TERMINAL_WINDOW = 512 * 1024;

/** What a session needs besides the request. */
export interface SessionDeps {
  core: CryptoCore;
  x25519: X25519Provider;
  net: NetInterface;
  keys: readonly UserKey[];
  knownHosts: KnownHosts;
  /** A new host key was accepted: save the network's known hosts. */
  onLearned: () => Promise<void>;
  /** Aborted when the page gives up on the session while it connects. */
  signal?: AbortSignal;
  /** Where to connect when request.host is a name (a mesh host's address); default: the host. */
  address?: string;
}

/** A connected session; it outlives the page that opened it (LiveHandle, live-sessions.ts). */
export interface OpenSession extends LiveHandle {
  close(): Promise<void>;
  /** Settles when the session has ended. */
  readonly ended: Promise<void>;
  /** Starts SFTP on a new channel of this session's connection (the files panel). */
  sftp(): Promise<SftpClient>;
}

/** Connects, authenticates and starts a shell; rejects (after telling `ui`) on failure. */
export async function openTerminalSession(
  request: SessionRequest,
  pageUi: SessionUi,
  port: MessagePort,
  deps: SessionDeps,
): Promise<OpenSession> {
  // The session's callbacks reach whichever page holds it (a reload hands it to the next).
  const uiSwitch = new UiSwitch(pageUi);
  const ui = uiSwitch.ui;
  const target = `${request.username}@${request.host}${request.port === 22 ? "" : `:${request.port}`}`;
  let closedReported = false;
  const reportClosed = (detail: string) => {
    if (closedReported) return;
    closedReported = true;
    void Promise.resolve(ui.onState("closed", detail)).catch(() => undefined);
  };
  const cancelled = () => {
    if (deps.signal?.aborted) throw new Error("cancelled");
  };
  // A question to the page (host key, password) ends with the session when it is cancelled.
  const orCancel = <T>(question: Promise<T>): Promise<T> => {
    const signal = deps.signal;
    if (signal === undefined) return question;
    return new Promise<T>((resolve, reject) => {
      const stop = () => reject(new Error("cancelled"));
      if (signal.aborted) stop();
      signal.addEventListener("abort", stop, { once: true });
      question.then(resolve, reject).finally(() => signal.removeEventListener("abort", stop));
    });
  };
  // Which login prompt the person closed, if one was: the login then ends "cancelled".
  let declined = "";
  try {
    cancelled();
    ui.onState("connecting", target);
    const address = parseIp(deps.address ?? request.host, `host '${request.host}'`);
    const stream = await deps.net.tcp.connect(deps.net.sourceFor(address), address, request.port, {
      timeoutMs: 15_000,
    });
    // Cancelling mid-handshake resets the TCP connection, which fails the SSH client at once.
    const drop = () => stream.abort("the page cancelled the session");
    deps.signal?.addEventListener("abort", drop, { once: true });
    cancelled();
    ui.onState("handshaking", target);
    const client = await SshClient.connect(stream, {
      core: deps.core,
      x25519: deps.x25519,
      username: request.username,
      keys: deps.keys,
      // The key types this network already knows for the host first (as the CLI and ssh(1)
      // do): a server holding the known key presents it; any other type is a hard stop.
      algorithms: {
        hostKey: preferKnownAlgorithms(deps.knownHosts, request.host, request.port),
      },
      verifyHostKey: hostKeyVerifier({
        host: request.host,
        port: request.port,
        knownHosts: deps.knownHosts,
        policy: "ask",
        confirm: (key: HostKeyInfo) =>
          orCancel(
            ui.confirmHostKey({
              host: request.host,
              port: request.port,
              keyType: key.keyType,
              fingerprint: key.fingerprint,
            }),
          ),
        onLearned: () => deps.onLearned(),
      }),
      onAuthenticating: () => ui.onState("authenticating", target),
      password: async (attempt) => {
        const answer = await orCancel(
          ui.askPassword(
            `${attempt > 1 ? "Permission denied, try again. " : ""}${target}'s password:`,
          ),
        );
        if (answer === null) declined = "the password prompt";
        return answer;
      },
      keyboardInteractive: async (challenge) => {
        const answers = await orCancel(
          ui.askInteractive(challenge.name, challenge.instruction, challenge.prompts),
        );
        if (answers === null) declined = "the login prompt";
        return answers;
      },
      onBanner: (text) => ui.onBanner(text),
      connection: { keepaliveIntervalMs: 15_000 },
    });
    deps.signal?.removeEventListener("abort", drop);
    if (deps.signal?.aborted) {
      await client.close();
      cancelled();
    }
    const session = await client.connection.openSession({ windowSize: TERMINAL_WINDOW });
    await session.requestPty({
      term: request.term ?? "xterm-256color",
      cols: request.cols,
      rows: request.rows,
    });
    await session.shell();
    ui.onState("connected", target);
    const pump = new TerminalPump(session, port);
    const ended = pump.done.finally(() => {
      void client.close().catch(() => undefined);
    });
    void client.transport.closed.then((error) => {
      reportClosed(error.by === "client" && error.code === 11 ? "closed" : error.message);
    });
    void ended.then(() => reportClosed("the session ended"));
    return {
      close: () => client.close(),
      ended,
      sftp: () => client.sftp(),
      ui: uiSwitch,
      get attached() {
        return pump.attached;
      },
      get pageId() {
        return pump.pageId;
      },
      detach: () => pump.detach(),
      attach(next, nextPort) {
        uiSwitch.replace(next);
        pump.attach(nextPort);
      },
      set onAttachment(listener: (attached: boolean) => void) {
        pump.onAttachment = listener;
      },
      get onAttachment() {
        return pump.onAttachment;
      },
    };
  } catch (error) {
    // A closed prompt is not a failed login: say it was cancelled.
    const message =
      declined !== "" && error instanceof SshAuthError
        ? `login cancelled: ${declined} was closed (${target})`
        : error instanceof Error
          ? error.message
          : String(error);
    reportClosed(message);
    port.close();
    throw error instanceof Error ? error : new Error(message);
  }
}
