// The SSH client in one call: transport (key exchange, host key check), user
// authentication, then the connection layer with its sessions, direct-tcpip channels and
// SFTP. Runs over any duplex byte stream (our TCP in the Worker, a Node socket in the CLI).

import { type ConnectionOptions, SshConnection } from "./connection.ts";
import { SshError } from "./errors.ts";
import { SSH_DISCONNECT } from "./messages.ts";
import { SftpClient } from "./sftp/client.ts";
import { type SshByteStream, SshTransport, type TransportOptions } from "./transport.ts";
import { type AuthOptions, authenticate } from "./userauth.ts";

/** Everything SshClient.connect needs. */
export interface ClientOptions extends TransportOptions, AuthOptions {
  connection?: ConnectionOptions;
  /** The key exchange is done (the host key accepted); authentication starts. */
  onAuthenticating?: () => void;
}

/** An authenticated SSH connection. */
export class SshClient {
  private constructor(readonly connection: SshConnection) {}

  /**
   * Connects over `stream`: key exchange, host key verification and authentication. Rejects
   * with SshError (HostKeyError, SshAuthError) and closes the stream on failure.
   */
  static async connect(stream: SshByteStream, options: ClientOptions): Promise<SshClient> {
    const transport = await SshTransport.connect(stream, options);
    try {
      options.onAuthenticating?.();
      const leftovers = await authenticate(transport, options);
      return new SshClient(new SshConnection(transport, leftovers, options.connection));
    } catch (error) {
      // Whatever went wrong, the caller gets one SshError and the server hears why.
      const failure = asConnectError(error, transport.error);
      await transport.disconnect(failure.message.slice(0, 200), failure.code);
      throw failure;
    }
  }

  get transport(): SshTransport {
    return this.connection.transport;
  }

  /** Runs `command` and collects its output and exit status (for scripts and tests). */
  async exec(command: string): Promise<{
    stdout: Uint8Array;
    stderr: Uint8Array;
    code: number | null;
    signal: string | null;
  }> {
    const session = await this.connection.openSession();
    await session.exec(command);
    void session.stdin.close().catch(() => undefined);
    const [stdout, stderr, exit] = await Promise.all([
      collect(session.stdout),
      collect(session.stderr),
      session.exit,
    ]);
    return { stdout, stderr, code: exit.code, signal: exit.signal };
  }

  /** Starts the SFTP subsystem on a new session. */
  async sftp(): Promise<SftpClient> {
    const session = await this.connection.openSession();
    await session.subsystem("sftp");
    return await SftpClient.open({ readable: session.stdout, writable: session.stdin });
  }

  /** Disconnects. */
  close(): Promise<void> {
    return this.connection.close();
  }
}

function asConnectError(error: unknown, ended: SshError | null): SshError {
  if (error instanceof SshError) return error;
  if (ended !== null) return ended;
  // authenticate() already turns protocol violations into SshError (PROTOCOL_ERROR).
  const message = error instanceof Error ? error.message : String(error);
  return new SshError(message, SSH_DISCONNECT.BY_APPLICATION, "client");
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    parts.push(r.value);
    total += r.value.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
