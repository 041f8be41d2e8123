// The real `corridor curl` as a child process, through a real WireGuard tunnel: a stock
// wireguard-go host in a network namespace runs an aiohttp server (python3-aiohttp, a server we
// did not write) on its tunnel address; curl reaches it with --wg-config. GET to stdout and to
// -o, -i, -w '%{http_code}', POST with -d and --data-binary @file, -L across a redirect, -f on a
// 404, --compressed, and the command-line errors a person gets.

import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { APP_PYTHON, edgeAppPrereq } from "../helpers/apps.ts";
import { check, describeWithPrereq, prereq } from "../helpers/prereq.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { writeOurWgConfig } from "../interop/our-wg-config.ts";
import { createWgHost, type WgHost, wgHostPrereq } from "../interop/wg-host.ts";
import { corridor } from "./agent-fake.ts";
import { runMain } from "./run-main.ts";

/** The Python with aiohttp (Debian's; a pyenv python3 on PATH often lacks it). */
const python: string | undefined = edgeAppPrereq().ok ? APP_PYTHON : undefined;

const need = prereq(
  ...wgHostPrereq().missing.map((what) => check(what, false)),
  check("python3 with aiohttp (python3-aiohttp)", python !== undefined),
);

const SERVER = `
import asyncio, hashlib, sys
from aiohttp import web

blob = open(sys.argv[3], "rb").read()

async def file(request):
    return web.Response(body=blob, content_type="application/octet-stream")

async def echo(request):
    body = await request.read()
    return web.json_response({
        "method": request.method,
        "length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "type": request.headers.get("Content-Type", ""),
        "x": request.headers.get("X-Test", ""),
    })

async def moved(request):
    raise web.HTTPFound("/file")

async def slow(request):
    response = web.StreamResponse()
    await response.prepare(request)
    await response.write(b"first")
    await asyncio.sleep(30)
    return response

async def text(request):
    response = web.Response(text="corridor " * 4000)
    response.enable_compression(web.ContentCoding.gzip)
    return response

app = web.Application(client_max_size=64 * 1024 * 1024)
app.add_routes([web.get("/file", file), web.route("*", "/echo", echo),
                web.get("/moved", moved), web.get("/text", text),
                web.get("/slow", slow)])
web.run_app(app, host=sys.argv[1], port=int(sys.argv[2]), print=lambda *a: print("ready", flush=True))
`;

describeWithPrereq(need, "corridor curl through wireguard-go to aiohttp", () => {
  let host: WgHost;
  let dir: string;
  let config: string;
  let base: string;
  let server: ChildProcess;
  const blob = seededBytes(0xc0)(2 * 1024 * 1024 + 17);
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  const curl = (...args: string[]) => corridor(["curl", "--wg-config", config, ...args]);

  beforeAll(async () => {
    const privateKey = generatePrivateKey();
    const publicKey = keyToBase64(await nodeX25519.publicKey(privateKey));
    host = await createWgHost({ peer: { publicKey, allowedIps: "100.64.0.1/32" } });
    dir = mkdtempSync(join(tmpdir(), "corridor-curl-"));
    config = writeOurWgConfig(dir, privateKey, host);
    writeFileSync(join(dir, "server.py"), SERVER);
    writeFileSync(join(dir, "blob"), blob);
    server = host.spawn([
      python!,
      join(dir, "server.py"),
      host.tunnelAddress,
      "8080",
      join(dir, "blob"),
    ]);
    let log = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`aiohttp did not start: ${log}`)), 20_000);
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      };
      server.stdout?.on("data", onData);
      server.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
      server.once("exit", (code) => reject(new Error(`aiohttp exited ${code}: ${log}`)));
    });
    base = `http://${host.tunnelAddress}:8080`;
  }, 60_000);

  afterAll(async () => {
    await host?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("GETs 2 MiB to stdout byte for byte, and to -o FILE with -w '%{http_code}'", async () => {
    const run = await curl(`${base}/file`);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(sha(run.stdout)).toBe(sha(blob));

    const out = join(dir, "out.bin");
    const saved = await curl(
      "-s",
      "-o",
      out,
      "-w",
      "%{http_code} %{size_download}\\n",
      `${base}/file`,
    );
    expect(saved.code).toBe(0);
    expect(saved.stdout.toString()).toBe(`200 ${blob.length}\n`);
    expect(sha(readFileSync(out))).toBe(sha(blob));
  });

  it("prints the status line and headers first with -i, only them with -I", async () => {
    const run = await curl("-i", `${base}/echo`);
    const text = run.stdout.toString();
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toMatch(/\r\nContent-Type: application\/json; charset=utf-8\r\n/i);
    expect(JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4))).toMatchObject({ method: "GET" });
    const head = await curl("-I", `${base}/file`);
    expect(head.code).toBe(0);
    expect(head.stdout.toString()).toMatch(
      new RegExp(
        `^HTTP/1\\.1 200 OK\\r\\n[^]*Content-Length: ${blob.length}\\r\\n[^]*\\r\\n\\r\\n$`,
        "i",
      ),
    );
  });

  it("POSTs -d as a form and --data-binary @file exactly, with -X and -H", async () => {
    const form = JSON.parse(
      (await curl("-d", "a=1", "-d", "b=2", `${base}/echo`)).stdout.toString(),
    );
    expect(form).toMatchObject({
      method: "POST",
      length: 7,
      sha256: sha(new TextEncoder().encode("a=1&b=2")),
      type: "application/x-www-form-urlencoded",
    });
    const file = join(dir, "upload.bin");
    writeFileSync(file, blob);
    const run = await curl(
      "-X",
      "PUT",
      "-H",
      "X-Test: yes",
      "-H",
      "Content-Type: application/octet-stream",
      "--data-binary",
      `@${file}`,
      `${base}/echo`,
    );
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout.toString())).toEqual({
      method: "PUT",
      length: blob.length,
      sha256: sha(blob),
      type: "application/octet-stream",
      x: "yes",
    });
  });

  it("PUTs -T FILE streamed from disk, and refuses -T with -d or a missing file", async () => {
    const run = await curl("-T", join(dir, "blob"), `${base}/echo`);
    expect(run.code).toBe(0);
    const echoed = JSON.parse(run.stdout.toString()) as { method: string; sha256: string };
    expect(echoed).toMatchObject({ method: "PUT", sha256: sha(blob), length: blob.length });
    const both = await curl("-T", join(dir, "blob"), "-d", "a", `${base}/echo`);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/-T and -d\/--data-binary do not go together/);
    const missing = await curl("-T", join(dir, "absent"), `${base}/echo`);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*absent: ENOENT/);
  });

  it("follows a redirect with -L, and shows it without", async () => {
    const plain = await curl("-s", "-w", "%{http_code}", "-o", "/dev/null", `${base}/moved`);
    expect(plain.stdout.toString()).toBe("302");
    const followed = await curl(
      "-s",
      "-L",
      "-w",
      "\\n%{num_redirects} %{url_effective}",
      `${base}/moved`,
    );
    expect(followed.code).toBe(0);
    const tail = followed.stdout.subarray(blob.length).toString();
    expect(sha(followed.stdout.subarray(0, blob.length))).toBe(sha(blob));
    expect(tail).toBe(`\n1 ${base}/file`);
    const capped = await curl("-L", "--max-redirs", "0", `${base}/moved`);
    expect(capped.code).toBe(47);
    expect(capped.stderr).toMatch(/maximum \(0\) redirects followed/);
  });

  it("exits 22 with -f on a 404, prints the body without it", async () => {
    const failed = await curl("-f", `${base}/nothing`);
    expect(failed.code).toBe(22);
    expect(failed.stdout.length).toBe(0);
    expect(failed.stderr).toMatch(/The requested URL returned error: 404/);
    const shown = await curl("-w", "%{http_code}", `${base}/nothing`);
    expect(shown.code).toBe(0);
    expect(shown.stdout.toString()).toMatch(/404$/);
  });

  it("decodes gzip with --compressed and passes it through without", async () => {
    const decoded = await curl("--compressed", `${base}/text`);
    expect(decoded.stdout.toString()).toBe("corridor ".repeat(4000));
    const raw = await curl("-H", "Accept-Encoding: gzip", "-i", `${base}/text`);
    const text = raw.stdout.toString("latin1");
    expect(text).toMatch(/\r\nContent-Encoding: gzip\r\n/i);
    expect(raw.stdout.length).toBeLessThan(4000);
  });

  it("exits 28 with -m when the body stalls past the limit, and says so", async () => {
    const run = await curl("-m", "2", "-w", "%{http_code}", `${base}/slow`);
    expect(run.code).toBe(28);
    expect(run.stderr).toMatch(/Operation timed out after 2000 milliseconds/);
    // What arrived before the limit was written; -w reports no complete response.
    expect(run.stdout.toString()).toBe("first000");
  });

  it("exits 7 naming the address when nothing listens on the port", async () => {
    const run = await curl("--connect-timeout", "5", `http://${host.tunnelAddress}:8081/`);
    expect(run.code).toBe(7);
    expect(run.stderr).toMatch(new RegExp(`^corridor curl: ${host.tunnelAddress}:8081: `));
  });
});

describe("corridor curl's command line", () => {
  it.each([
    [["https://web-01/"], /https: is not supported yet/],
    [["ftp://web-01/"], /URL scheme ftp: is not http:/],
    [["-H", "no colon", "http://web-01/"], /-H 'no colon' is not 'Name: value'/],
    [
      ["-d", "a", "--data-binary", "b", "http://web-01/"],
      /-d and --data-binary do not go together/,
    ],
    [["-X", "GE T", "http://web-01/"], /-X 'GE T' is not a method name/],
    [["--relay", "ws://x/relay", "http://web-01/"], /--relay needs --wg-config/],
    [["http://a/", "http://b/"], /one URL is required/],
    [["-d", "@/nonexistent/file", "http://web-01/"], /cannot read \/nonexistent\/file: ENOENT/],
  ])("refuses %j with exit 2 and what was wrong", async (args, message) => {
    // Through main in this process (run-main.ts): refused before any network, and a start of
    // the binary per line cost ~1 s; every other test here runs the real binary.
    const run = await runMain(["curl", ...args]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it("says how to start an agent when none runs (exit 7)", async () => {
    const socketDir = mkdtempSync(join(tmpdir(), "corridor-curl-noagent-"));
    try {
      const run = await corridor([
        "curl",
        "--socket",
        join(socketDir, "agent.sock"),
        "http://web-01/",
      ]);
      expect(run.code).toBe(7);
      expect(run.stderr).toMatch(/^corridor curl: web-01(:80)?: .*agent/);
    } finally {
      rmSync(socketDir, { recursive: true, force: true });
    }
  });
});
