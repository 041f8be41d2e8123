// `corridor curl [options] URL`: one HTTP request to a private host through the mesh, with the
// engine's own HTTP/1.1 client (worker/http, the one private URLs use in the page), spelled as
// curl(1) spells it: -X, -H, -d/--data-binary (@file too), -o, -L, -i, -s, -w '%{http_code}'.
// Without --wg-config the local agent dials (the host may be a mesh name); with it, the engine
// talks WireGuard itself (UDP to the peers' Endpoints, or through --relay). For scripts and tests.
// The body goes to stdout (or -o FILE) byte for byte; errors to stderr; exit codes as curl's
// where they mean the same (6 host not found, 7 could not connect, 28 timeout, 47 too many
// redirects, 22 with -f on an HTTP error), 1 otherwise.

import { createReadStream, readFileSync, statSync } from "node:fs";
import { Duplex, Readable, Writable } from "node:stream";
import { startMeshNet } from "../server/mesh-net.ts";
import type { Dial, DuplexStream } from "../worker/http/connection.ts";
import { HttpError, HttpPool, type HttpResponse, httpRequest } from "../worker/http/index.ts";
import { parseIp } from "../worker/wireguard/ip-address.ts";
import { AgentError, agentSocketPath, dialThroughAgent, SOCKET_OPTION } from "./agent-client.ts";
import { defineCommand, type ParsedArgs, positiveSeconds, runCommand, UsageError } from "./args.ts";
import { writeOutput } from "./curl-output.ts";
import { unprotectedFileWarning } from "./files.ts";

/** `corridor curl`: its options, help and summary. */
export const CURL_COMMAND = defineCommand({
  name: "curl",
  summary: "an HTTP request to a private host through the mesh, spelled like curl(1)",
  synopsis: [
    "[-X METHOD] [-H 'Name: value']... [-d DATA] [-o FILE] [-L] [-i] [-s] [-w FORMAT] URL",
    "... --wg-config FILE [--relay URL] URL",
  ],
  options: [
    {
      name: "request",
      short: "X",
      value: "METHOD",
      description: "the method (default GET, POST with -d)",
    },
    {
      name: "header",
      short: "H",
      value: "'NAME: VALUE'",
      description: "a request header",
      multiple: true,
    },
    {
      name: "data",
      short: "d",
      value: "DATA",
      description: "a request body (@FILE reads it from a file); sets POST and a form Content-Type",
      multiple: true,
    },
    {
      name: "data-binary",
      value: "DATA",
      description: "as --data, the bytes exactly as given",
      multiple: true,
    },
    {
      name: "upload-file",
      short: "T",
      value: "FILE",
      description: "PUT FILE as the body, streamed from disk (no size limit)",
    },
    {
      name: "output",
      short: "o",
      value: "FILE",
      description: "write the body to FILE, not stdout",
    },
    { name: "location", short: "L", description: "follow redirects (at most --max-redirs)" },
    { name: "max-redirs", value: "N", description: "redirects -L follows", default: "50" },
    {
      name: "include",
      short: "i",
      description: "print the response's status line and headers first",
    },
    { name: "head", short: "I", description: "a HEAD request; print the headers" },
    { name: "silent", short: "s", description: "no error messages" },
    { name: "show-error", short: "S", description: "with -s, still print errors" },
    { name: "fail", short: "f", description: "exit 22 on an HTTP status of 400 or more, no body" },
    {
      name: "write-out",
      short: "w",
      value: "FORMAT",
      description:
        "print FORMAT after the body: %{http_code}, %{size_download}, %{url_effective}, %{num_redirects}, %{content_type}, \\n",
    },
    { name: "compressed", description: "ask for gzip/deflate and decode the body" },
    {
      name: "max-time",
      short: "m",
      value: "SECONDS",
      description: "the longest the whole request may take",
    },
    {
      name: "connect-timeout",
      value: "SECONDS",
      description: "the longest the connection may take",
      default: "10",
    },
    {
      name: "wg-config",
      value: "FILE",
      description:
        "a wg-quick file: the engine talks WireGuard itself (without it, the local agent dials)",
    },
    SOCKET_OPTION,
    {
      name: "relay",
      value: "URL",
      description:
        "with --wg-config, go through a relay (ws://host:port/relay, #key= pins its key)",
    },
  ],
  operands: [
    {
      name: "URL",
      description: "http://HOST[:PORT]/PATH: HOST a mesh name (through the agent) or an address",
    },
  ],
  notes:
    "Examples: corridor curl http://web-01:3000/healthz\n" +
    "          corridor curl -s -o page.html -w '%{http_code}\\n' http://10.8.0.1:8080/\n" +
    "          corridor curl --wg-config wg0.conf -d @form.txt http://10.8.0.1:8080/submit\n" +
    "HTTPS to private hosts is not supported yet: the WireGuard tunnel already encrypts (docs/private-urls.md).",
});

/** What a command line asks for. */
export interface CurlArgs {
  url: URL;
  method: string;
  headers: [string, string][];
  body: Uint8Array | null;
  /** -T: a file streamed as the body (read again for a 307/308 redirect). */
  uploadFile: string | undefined;
  output: string | undefined;
  follow: boolean;
  maxRedirects: number;
  include: boolean;
  silent: boolean;
  fail: boolean;
  writeOut: string | undefined;
  compressed: boolean;
  maxTimeMs: number | undefined;
  connectTimeoutMs: number;
  config: string | undefined;
  relay: string | undefined;
  socket: string | undefined;
}

function bodyOf(values: string[], binary: boolean): Uint8Array {
  const parts = values.map((value) => {
    if (!value.startsWith("@")) return Buffer.from(value);
    const file = value.slice(1);
    try {
      const bytes = readFileSync(file === "-" ? 0 : file);
      // curl -d strips CR and LF from a file's contents; --data-binary keeps them.
      return binary
        ? bytes
        : Buffer.from(bytes.toString("latin1").replace(/[\r\n]/g, ""), "latin1");
    } catch (error) {
      throw new UsageError(
        `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`,
      );
    }
  });
  return new Uint8Array(
    Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from("&"), p]))),
  );
}

export function curlArgs({
  values,
  positionals,
}: ParsedArgs<typeof CURL_COMMAND.options>): CurlArgs {
  if (positionals.length !== 1) throw new UsageError("one URL is required");
  let url: URL;
  try {
    url = new URL(positionals[0]!);
  } catch {
    throw new UsageError(`URL '${positionals[0]}' is not a URL (http://HOST[:PORT]/PATH)`);
  }
  if (url.protocol === "https:") {
    throw new UsageError("https: is not supported yet (the tunnel encrypts; use http://)");
  }
  if (url.protocol !== "http:") throw new UsageError(`URL scheme ${url.protocol} is not http:`);
  const headers: [string, string][] = values.header.map((line) => {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new UsageError(`-H '${line}' is not 'Name: value'`);
    return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
  });
  const data = values.data;
  const binary = values["data-binary"];
  if (data.length > 0 && binary.length > 0) {
    throw new UsageError("-d and --data-binary do not go together");
  }
  const body =
    data.length > 0 ? bodyOf(data, false) : binary.length > 0 ? bodyOf(binary, true) : null;
  const uploadFile = values["upload-file"];
  if (uploadFile !== undefined) {
    if (body !== null) throw new UsageError("-T and -d/--data-binary do not go together");
    try {
      if (!statSync(uploadFile).isFile()) throw new UsageError(`-T ${uploadFile} is not a file`);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(`cannot read ${uploadFile}: ${(error as NodeJS.ErrnoException).code}`);
    }
  }
  if (
    body !== null &&
    data.length > 0 &&
    !headers.some(([n]) => n.toLowerCase() === "content-type")
  ) {
    headers.push(["Content-Type", "application/x-www-form-urlencoded"]);
  }
  const method =
    values.request ??
    (values.head ? "HEAD" : uploadFile !== undefined ? "PUT" : body !== null ? "POST" : "GET");
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method)) {
    throw new UsageError(`-X '${method}' is not a method name`);
  }
  const maxRedirects = Number(values["max-redirs"] ?? "50");
  if (!Number.isInteger(maxRedirects) || maxRedirects < 0) {
    throw new UsageError(`--max-redirs '${values["max-redirs"]}' is not a count`);
  }
  if (values["wg-config"] === undefined && values.relay !== undefined) {
    throw new UsageError("--relay needs --wg-config (the agent uses its map's relay)");
  }
  if (values["wg-config"] !== undefined && values.socket !== undefined) {
    throw new UsageError("--socket is for the agent; it does not go with --wg-config");
  }
  return {
    url,
    method,
    headers,
    body,
    uploadFile,
    output: values.output,
    follow: values.location,
    maxRedirects,
    include: values.include || values.head,
    silent: values.silent && !values["show-error"],
    fail: values.fail,
    writeOut: values["write-out"],
    compressed: values.compressed,
    maxTimeMs:
      values["max-time"] === undefined ? undefined : positiveSeconds(values["max-time"], "-m", 0),
    connectTimeoutMs: positiveSeconds(values["connect-timeout"], "--connect-timeout", 10_000),
    config: values["wg-config"],
    relay: values.relay,
    socket: values.socket,
  };
}

/** Runs `corridor curl`; returns the exit status. */
export function curlCommand(argv: string[]): Promise<number> {
  return runCommand(CURL_COMMAND, argv, (args) => curl(curlArgs(args)));
}

/** A failure with curl's exit code for it. */
class CurlFailure extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

function exitCodeOf(error: unknown): number {
  if (error instanceof CurlFailure) return error.code;
  if (error instanceof AgentError && error.code === "no-agent") return 7;
  if (error instanceof HttpError) {
    if (error.code === "connect") return 7;
    if (error.code === "timeout") return 28;
  }
  if (error instanceof Error && error.name === "TimeoutError") return 28;
  return 1;
}

/** The Node socket the agent hands back, as the DuplexStream the HTTP client reads. */
function socketStream(socket: import("node:net").Socket): DuplexStream {
  const { readable, writable } = Duplex.toWeb(socket);
  return {
    readable: readable as unknown as ReadableStream<Uint8Array>,
    writable: writable as WritableStream<Uint8Array>,
    close: () => socket.destroy(),
  };
}

async function curl(args: CurlArgs): Promise<number> {
  const say = (line: string) => {
    if (!args.silent) process.stderr.write(`corridor curl: ${line}\n`);
  };
  let close = async () => {};
  let dial: Dial;
  if (args.config === undefined) {
    const path = agentSocketPath(args.socket);
    dial = async (host, port) =>
      socketStream(await dialThroughAgent(path, host, port, args.connectTimeoutMs));
  } else {
    const unprotected = unprotectedFileWarning(args.config, "WireGuard config");
    if (unprotected !== null) say(unprotected);
    let mesh: Awaited<ReturnType<typeof startMeshNet>>;
    try {
      mesh = await startMeshNet(args.config, { relay: args.relay });
    } catch (error) {
      say((error as Error).message);
      return 1;
    }
    close = () => mesh.close();
    dial = async (host, port) => {
      let address: Uint8Array;
      try {
        address = parseIp(host, `host '${host}'`);
      } catch {
        throw new CurlFailure(`${host}: with --wg-config the host must be an address`, 6);
      }
      const connection = await mesh.net.tcp.connect(mesh.net.sourceFor(address), address, port, {
        timeoutMs: args.connectTimeoutMs,
      });
      return {
        readable: connection.readable,
        writable: connection.writable,
        close: () => connection.abort("closed by the HTTP client"),
      };
    };
  }
  const pool = new HttpPool({ dial, connectTimeoutMs: args.connectTimeoutMs });
  const signal = args.maxTimeMs === undefined ? undefined : AbortSignal.timeout(args.maxTimeMs);
  let url = args.url;
  let redirects = 0;
  try {
    let method = args.method;
    // -T streams the file (chunked): its size may be anything; a redirect reads it again.
    const upload = () =>
      args.uploadFile === undefined
        ? args.body
        : (Readable.toWeb(createReadStream(args.uploadFile)) as ReadableStream<Uint8Array>);
    let body = upload();
    let response: HttpResponse;
    for (;;) {
      response = await httpRequest(pool, {
        method,
        url: url.href,
        headers: args.headers,
        body,
        signal,
        decode: args.compressed,
      });
      const location = headerOf(response, "location");
      if (!args.follow || location === undefined || !isRedirect(response.status)) break;
      if (redirects >= args.maxRedirects) {
        throw new CurlFailure(`maximum (${args.maxRedirects}) redirects followed`, 47);
      }
      await response.body.cancel().catch(() => {});
      url = new URL(location, url);
      if (url.protocol !== "http:") {
        throw new CurlFailure(`redirect to ${url.protocol} (${url.href}) is not supported`, 1);
      }
      redirects++;
      // 303, and 301/302 after a POST, turn into GET without a body (as curl and browsers do).
      if (
        response.status === 303 ||
        ((response.status === 301 || response.status === 302) && method === "POST")
      ) {
        method = method === "HEAD" ? "HEAD" : "GET";
        body = null;
      } else if (body instanceof ReadableStream) {
        body = upload();
      }
    }
    if (args.fail && response.status >= 400) {
      await response.body.cancel().catch(() => {});
      throw new CurlFailure(`The requested URL returned error: ${response.status}`, 22);
    }
    const size = await writeOutput(response, {
      output: args.output,
      include: args.include,
      stdout: Writable.toWeb(process.stdout) as WritableStream<Uint8Array>,
    });
    if (args.writeOut !== undefined) {
      process.stdout.write(
        formatWriteOut(args.writeOut, {
          http_code: String(response.status),
          size_download: String(size),
          url_effective: url.href,
          num_redirects: String(redirects),
          content_type: headerOf(response, "content-type") ?? "",
        }),
      );
    }
    return 0;
  } catch (caught) {
    // -m's signal aborts whatever was running (connect, head, body): whichever error that
    // surfaced as, it is curl's "operation timed out" (28), not a generic failure.
    const error =
      signal?.aborted === true
        ? new CurlFailure(`Operation timed out after ${args.maxTimeMs} milliseconds`, 28)
        : caught;
    // The HTTP client's errors already start with host:port.
    const message = (error as Error).message;
    say(message.startsWith(`${url.hostname}:`) ? message : `${url.host}: ${message}`);
    if (args.writeOut !== undefined && !(error instanceof UsageError)) {
      process.stdout.write(
        formatWriteOut(args.writeOut, {
          http_code: "000",
          size_download: "0",
          url_effective: url.href,
          num_redirects: String(redirects),
          content_type: "",
        }),
      );
    }
    return exitCodeOf(error);
  } finally {
    pool.closeIdle();
    await close();
  }
}

function headerOf(response: HttpResponse, name: string): string | undefined {
  return response.headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** curl's -w: %{name} variables, \n, \t and \\ escapes; an unknown variable stays as written. */
export function formatWriteOut(format: string, vars: Record<string, string>): string {
  return format
    .replace(/%\{([a-z_]+)\}/g, (whole, name: string) => vars[name] ?? whole)
    .replace(/\\([nrt\\])/g, (_, c: string) => ({ n: "\n", r: "\r", t: "\t", "\\": "\\" })[c]!);
}
