// The real-app fixtures (apps.ts) checked through what the private-URL chain is built on: the
// engine's HTTP client, userspace TCP and WireGuard in Node, as the real `corridor curl`
// through a stock wireguard-go host in a namespace where the apps run on its tunnel address.
// Jupyter: token login and its XSRF check. Transmission: Basic auth and the 409 session-id
// retry. The aiohttp edge app: cookies, CSP nonce, SSE, redirects, Basic 401, large bodies.

import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { corridor, type Run } from "../cli/agent-fake.ts";
import { runMainBytes } from "../cli/run-main.ts";
import { writeOurWgConfig } from "../interop/our-wg-config.ts";
import { createWgHost, type WgHost, wgHostPrereq } from "../interop/wg-host.ts";
import {
  type EdgeApp,
  edgeAppPrereq,
  edgePattern,
  type JupyterApp,
  jupyterPrereq,
  startEdgeApp,
  startJupyter,
  startTransmission,
  type TransmissionApp,
  transmissionPrereq,
} from "./apps.ts";
import { check, describeWithPrereq, prereq } from "./prereq.ts";

const need = prereq(
  ...[wgHostPrereq(), edgeAppPrereq()].flatMap((p) => p.missing).map((w) => check(w, false)),
);
const hasJupyter = jupyterPrereq().ok;
const hasTransmission = transmissionPrereq().ok;

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** The response head `corridor curl -i` printed, split from its body. */
function split(stdout: Buffer): { head: string; body: string } {
  const text = stdout.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  return { head: text.slice(0, end), body: text.slice(end + 4) };
}
const header = (head: string, name: string) =>
  head
    .split("\r\n")
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((l) => l.slice(name.length + 1).trim());
const cookiePair = (setCookie: string) => setCookie.split(";")[0]!;

describeWithPrereq(need, "real apps behind wireguard-go, through corridor curl", () => {
  let host: WgHost;
  let dir: string;
  let config: string;
  let edge: EdgeApp;
  let jupyter: JupyterApp | undefined;
  let transmission: TransmissionApp | undefined;
  // In-process through main() (a real binary start costs a second or more each, and this file
  // makes ~50 requests); the 24 MiB transfer runs the real binary.
  // Each run is a new WireGuard device with the same key: wireguard-go drops an initiation
  // that comes within 20 ms of the last one or whose TAI64N timestamp is not newer (replay
  // and flood protection), and the retry waits Rekey-Timeout (5 s). Runs start 50 ms apart.
  let lastRun = 0;
  const curl = async (...args: string[]): Promise<Run> => {
    const wait = lastRun + 50 - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    lastRun = performance.now();
    const run = await runMainBytes(["curl", "--wg-config", config, ...args]);
    return { stdout: run.stdout, stderr: run.stderr, code: run.status };
  };
  const curlBinary = (...args: string[]) => corridor(["curl", "--wg-config", config, ...args]);

  beforeAll(async () => {
    const privateKey = generatePrivateKey();
    const publicKey = keyToBase64(await nodeX25519.publicKey(privateKey));
    host = await createWgHost({ peer: { publicKey, allowedIps: "100.64.0.1/32" }, prefix: "capp" });
    dir = mkdtempSync(join(tmpdir(), "corridor-apps-"));
    config = writeOurWgConfig(dir, privateKey, host);
    [edge, jupyter, transmission] = await Promise.all([
      startEdgeApp({ host }),
      hasJupyter ? startJupyter({ host }) : undefined,
      hasTransmission ? startTransmission({ host }) : undefined,
    ]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([edge?.stop(), jupyter?.stop(), transmission?.stop()]);
    await host?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("edge: the login form sets an HttpOnly session cookie and a JS-visible one", async () => {
    const login = await curl(
      "-i",
      "-d",
      `user=${edge.user}`,
      "-d",
      `password=${edge.password}`,
      `${edge.url}/login`,
    );
    const { head } = split(login.stdout);
    expect(head).toMatch(/^HTTP\/1\.1 303 /);
    expect(header(head, "location")).toEqual(["/whoami"]);
    const cookies = header(head, "set-cookie");
    expect(cookies).toContainEqual(
      expect.stringMatching(/^session=s-corridor; HttpOnly; Path=\/; SameSite=Lax$/),
    );
    expect(cookies).toContainEqual("theme=dark; Path=/");
    const who = await curl(
      "-H",
      `Cookie: ${cookies.map(cookiePair).join("; ")}`,
      `${edge.url}/whoami`,
    );
    expect(JSON.parse(who.stdout.toString())).toMatchObject({
      session: "s-corridor",
      theme: "dark",
      host: `${edge.address}:${edge.port}`,
    });
    const wrong = await curl(
      "-w",
      "%{http_code}",
      "-o",
      "/dev/null",
      "-d",
      "user=x",
      `${edge.url}/login`,
    );
    expect(wrong.stdout.toString()).toBe("403");
  });

  it("edge: Path, Max-Age=0 and Secure cookies; the CSP page carries its nonce", async () => {
    const set = split((await curl("-i", `${edge.url}/cookies/set`)).stdout);
    expect(header(set.head, "set-cookie")).toEqual(
      expect.arrayContaining([
        "scoped=1; Path=/cookies",
        expect.stringMatching(/^theme=""; .*Max-Age=0; Path=\/$/),
        "tls_only=1; Path=/; Secure",
      ]),
    );
    const page = split((await curl("-i", `${edge.url}/csp`)).stdout);
    const [policy] = header(page.head, "content-security-policy");
    const nonce = /'nonce-([^']+)'/.exec(policy ?? "")?.[1];
    expect(nonce).toBeDefined();
    expect(page.body).toContain(`<script nonce="${nonce}">`);
  });

  it("edge: an SSE stream sends one event a second; chunked parts arrive whole", async () => {
    const started = Date.now();
    const sse = await curl("-i", `${edge.url}/sse?count=3`);
    const { head, body } = split(sse.stdout);
    expect(header(head, "content-type")).toEqual(["text/event-stream"]);
    expect(body).toBe("id: 0\ndata: tick 0\n\nid: 1\ndata: tick 1\n\nid: 2\ndata: tick 2\n\n");
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    const chunked = split((await curl("-i", `${edge.url}/chunked?parts=4`)).stdout);
    expect(header(chunked.head, "transfer-encoding")).toEqual(["chunked"]);
    expect(chunked.body).toBe("part 0\npart 1\npart 2\npart 3\n");
  });

  it.each([301, 302, 303, 307, 308])(
    "edge: %i relative, empty and absolute to its own host:port",
    async (code) => {
      for (const [path, location] of [
        [`/redirect/${code}`, "/landing"],
        [`/redirect/${code}/empty`, "/landing"],
        [`/redirect/${code}/absolute`, `${edge.url}/landing`],
      ] as const) {
        const shown = split((await curl("-i", `${edge.url}${path}`)).stdout);
        expect(shown.head).toMatch(new RegExp(`^HTTP/1\\.1 ${code} `));
        expect(header(shown.head, "location")).toEqual([location]);
        const followed = await curl(
          "-L",
          "-d",
          "a=1",
          "-w",
          "\n%{url_effective}",
          `${edge.url}${path}`,
        );
        const [json, effective] = followed.stdout.toString().split("\n");
        // 307/308 keep the method; 301/302/303 turn a POST into a GET, as browsers do.
        expect(JSON.parse(json!)).toEqual({ method: code >= 307 ? "POST" : "GET", landed: true });
        expect(effective).toBe(`${edge.url}/landing`);
      }
    },
  );

  it("edge: 401 with WWW-Authenticate Basic, then 200 with the credentials", async () => {
    const denied = split((await curl("-i", `${edge.url}/basic`)).stdout);
    expect(denied.head).toMatch(/^HTTP\/1\.1 401 /);
    expect(header(denied.head, "www-authenticate")).toEqual(['Basic realm="corridor-edge"']);
    const basic = Buffer.from(`${edge.user}:${edge.password}`).toString("base64");
    const allowed = await curl("-H", `Authorization: Basic ${basic}`, `${edge.url}/basic`);
    expect(allowed.stdout.toString()).toBe(`hello ${edge.user}`);
  });

  it("edge: 24 MiB down and up, byte for byte (sha256 echoed by the sink)", async () => {
    const size = 24 * 1024 * 1024 + 5;
    const expected = edgePattern(0, size);
    const down = await curlBinary("-s", `${edge.url}/download?bytes=${size}`);
    expect(down.code).toBe(0);
    expect(down.stdout.length).toBe(size);
    expect(sha(down.stdout)).toBe(sha(expected));
    const file = join(dir, "up.bin");
    writeFileSync(file, expected);
    const up = await curlBinary("-T", file, `${edge.url}/upload`);
    expect(JSON.parse(up.stdout.toString())).toEqual({
      method: "PUT",
      length: size,
      sha256: sha(expected),
    });
  }, 60_000);

  it.skipIf(!hasJupyter)(
    "Jupyter: token login, then a POST needs the _xsrf cookie and header",
    async () => {
      const j = jupyter!;
      const form = split((await curl("-i", `${j.url}/login`)).stdout);
      const xsrf = header(form.head, "set-cookie")
        .map(cookiePair)
        .find((c) => c.startsWith("_xsrf="))!;
      expect(xsrf).toBeDefined();
      const token = xsrf.slice("_xsrf=".length);
      const posted = split(
        (
          await curl(
            "-i",
            "-H",
            `Cookie: ${xsrf}`,
            "-d",
            `_xsrf=${token}`,
            "-d",
            `password=${j.token}`,
            `${j.url}/login?next=%2Ftree`,
          )
        ).stdout,
      );
      expect(posted.head).toMatch(/^HTTP\/1\.1 302 /);
      expect(header(posted.head, "location")).toEqual(["/tree"]);
      const session = header(posted.head, "set-cookie").find((c) => c.startsWith("username-"))!;
      expect(session).toMatch(/; HttpOnly; Path=\//);
      const cookie = `${xsrf}; ${cookiePair(session)}`;
      const tree = await curl(
        "-w",
        "%{http_code}",
        "-o",
        "/dev/null",
        "-H",
        `Cookie: ${cookie}`,
        `${j.url}/tree`,
      );
      expect(tree.stdout.toString()).toBe("200");
      const create = (...extra: string[]) =>
        curl(
          "-s",
          "-w",
          "%{http_code}",
          "-o",
          "/dev/null",
          "-X",
          "POST",
          "-H",
          "Content-Type: application/json",
          "--data-binary",
          '{"type":"notebook"}',
          ...extra,
          `${j.url}/api/contents`,
        );
      expect((await create("-H", `Cookie: ${cookiePair(session)}`)).stdout.toString()).toBe("403");
      expect(
        (await create("-H", `Cookie: ${cookie}`, "-H", `X-XSRFToken: ${token}`)).stdout.toString(),
      ).toBe("201");
    },
    60_000,
  );

  it.skipIf(!hasTransmission)(
    "Transmission: 401 without Basic, 409 then 200 with the session id",
    async () => {
      const t = transmission!;
      const rpc = (...extra: string[]) =>
        curl(
          "-i",
          "-H",
          "Content-Type: application/json",
          "--data-binary",
          '{"method":"session-get"}',
          ...extra,
          t.rpc,
        );
      expect(split((await rpc()).stdout).head).toMatch(/^HTTP\/1\.1 401 /);
      const auth = `Authorization: Basic ${Buffer.from(`${t.user}:${t.password}`).toString("base64")}`;
      const conflict = split((await rpc("-H", auth)).stdout);
      expect(conflict.head).toMatch(/^HTTP\/1\.1 409 /);
      const [id] = header(conflict.head, "x-transmission-session-id");
      expect(id).toMatch(/^\w{20,}$/);
      const ok = split((await rpc("-H", auth, "-H", `X-Transmission-Session-Id: ${id}`)).stdout);
      expect(ok.head).toMatch(/^HTTP\/1\.1 200 /);
      expect(JSON.parse(ok.body)).toMatchObject({
        result: "success",
        arguments: { "rpc-version": expect.any(Number) },
      });
      const web = await curl(
        "-s",
        "-w",
        "%{http_code}",
        "-o",
        "/dev/null",
        "-H",
        auth,
        `${t.url}/transmission/web/`,
      );
      expect(web.stdout.toString()).toBe("200");
    },
    60_000,
  );
});
