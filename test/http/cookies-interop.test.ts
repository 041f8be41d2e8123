// The engine's cookie jar (worker/http/cookies.ts) against cookies of a server we did not
// write: Jupyter Notebook's login (`_xsrf` read by the page's JS, `username-<host>-<port>`
// HttpOnly). A Node server replays the headers recorded from Jupyter Notebook 6.4.12 (always
// runs); the real Debian `jupyter-notebook` is then logged into through the jar (gated).

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CookieJars } from "../../worker/http/cookies.ts";
import { listenOnLoopback, PortInUseError, withPortRetry } from "../helpers/ports.ts";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request from Node's client, Set-Cookie kept as the list of header lines. */
function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body = "",
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

const setCookies = (r: Reply) => r.headers["set-cookie"] ?? [];

/** Logs in as a browser would, the jar standing in for the browser's cookies; returns the jar. */
async function login(
  port: number,
  token: string,
  now?: Date,
): Promise<{ jars: CookieJars; base: string }> {
  const jars = new CookieJars();
  const base = `http://127.0.0.1:${port}`;
  const page = await send(port, "GET", "/login", {});
  expect(page.status).toBe(200);
  expect(jars.setFromResponse(`${base}/login`, setCookies(page), now).rejected).toEqual([]);
  // The login page's JS reads _xsrf from document.cookie and posts it with the form.
  const xsrf = /(?:^|; )_xsrf=([^;]*)/.exec(jars.documentCookie(`${base}/login`, now))?.[1];
  expect(xsrf).toBeDefined();
  const form = new URLSearchParams({ _xsrf: xsrf ?? "", password: token }).toString();
  const posted = await send(
    port,
    "POST",
    "/login?next=%2Ftree",
    {
      "content-type": "application/x-www-form-urlencoded",
      cookie: jars.cookieHeader(`${base}/login`, { method: "POST", now }),
    },
    form,
  );
  expect(posted.status).toBe(302);
  expect(posted.headers.location).toBe("/tree");
  expect(jars.setFromResponse(`${base}/login`, setCookies(posted), now).rejected).toEqual([]);
  return { jars, base };
}

/** What a logged-in session must look like in the jar, and that the server accepts it. */
async function expectLoggedIn(
  port: number,
  jars: CookieJars,
  base: string,
  now?: Date,
): Promise<void> {
  const name = `username-127-0-0-1-${port}`;
  const header = jars.cookieHeader(`${base}/api/contents`, { now });
  expect(header).toMatch(new RegExp(`^_xsrf=[^;]+; ${name}="2\\|1:0\\|[^"]+"$`));
  expect(jars.documentCookie(`${base}/tree`, now)).toMatch(/^_xsrf=[^;]+$/);
  expect(jars.setFromDocument(`${base}/tree`, `${name}=forged; path=/`, now)).toMatch(/HttpOnly/);
  const api = await send(port, "GET", "/api/contents", { cookie: header });
  expect(api.status).toBe(200);
  expect((await send(port, "GET", "/api/contents", {})).status).toBe(403);
  // The session survives persisting the jar with the network.
  const back = CookieJars.deserialize(jars.serialize(now), {}, now);
  expect(back.error).toBeUndefined();
  expect(back.jars.cookieHeader(`${base}/api/contents`, { now })).toBe(header);
}

describe("cookies of Jupyter's login, replayed by a Node server (headers of Jupyter Notebook 6.4.12)", () => {
  // The recorded cookies expire on 2027-01-02: the jar is driven at a fixed time before that.
  const NOW = new Date("2026-12-03T20:28:30Z");
  const XSRF = "2|89ec630c|c2c6920c01440a88e2ae7af8fa2010fc|1796329706";
  const USER =
    '"2|1:0|10:1796329709|24:username-127-0-0-1-38799|44:Y2RiMmUxNTFjM2EwNGE1NTg4ZmNhZWQxMjI0Y2EwNmE=|5eb623aeb23e677c1789f8cf70c791aebf6e54e385356104e910c983b434cf69"';
  let server: Server;
  let port = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const cookie = req.headers.cookie ?? "";
      res.setHeader("Server", "TornadoServer/6.2");
      if (req.method === "GET" && req.url === "/login") {
        res.setHeader("Set-Cookie", [`_xsrf=${XSRF}; Path=/`]);
        res.end("<form>login</form>");
      } else if (req.method === "POST" && req.url?.startsWith("/login")) {
        let body = "";
        req.on("data", (c: Buffer) => {
          body += c.toString();
        });
        req.on("end", () => {
          const form = new URLSearchParams(body);
          const ok =
            cookie === `_xsrf=${XSRF}` &&
            form.get("_xsrf") === XSRF &&
            form.get("password") === "secrettoken";
          if (!ok) {
            res.statusCode = 403;
            res.end();
            return;
          }
          res.statusCode = 302;
          res.setHeader("Location", "/tree");
          res.setHeader("Set-Cookie", [
            `username-127-0-0-1-${port}=${USER}; expires=Sat, 02 Jan 2027 20:28:29 GMT; HttpOnly; Path=/`,
          ]);
          res.end();
        });
      } else if (req.url === "/api/contents") {
        res.statusCode = cookie.includes(`username-127-0-0-1-${port}=${USER}`) ? 200 : 403;
        res.end("{}");
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    port = await listenOnLoopback(server);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("logs in: _xsrf readable by the page, the session cookie HttpOnly, both sent back", async () => {
    const { jars, base } = await login(port, "secrettoken", NOW);
    await expectLoggedIn(port, jars, base, NOW);
    // After the recorded expiry the session is gone and only the (session) _xsrf remains.
    expect(jars.cookieHeader(`${base}/`, { now: new Date("2027-01-03T00:00:00Z") })).toBe(
      `_xsrf=${XSRF}`,
    );
  });
});

const jupyter = prereq(executable("/usr/bin/jupyter-notebook"));

describeWithPrereq(
  jupyter,
  "cookies of a real Jupyter Notebook's login (Debian jupyter-notebook)",
  () => {
    const TOKEN = "corridor-cookie-test";
    let dir = "";
    let child: ChildProcess | undefined;
    let port = 0;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "corridor-cookies-jupyter-"));
      port = await withPortRetry((p) => startJupyter(p));
    });
    afterAll(() => {
      child?.kill("SIGKILL");
      if (dir !== "") rmSync(dir, { recursive: true, force: true });
    });

    function startJupyter(p: number): Promise<number> {
      return new Promise((resolve, reject) => {
        const proc = spawn(
          "/usr/bin/jupyter-notebook",
          [
            "--no-browser",
            "--ip=127.0.0.1",
            `--port=${p}`,
            "--port-retries=0",
            `--NotebookApp.token=${TOKEN}`,
            "--allow-root",
            `--notebook-dir=${dir}`,
          ],
          {
            cwd: dir,
            env: {
              ...process.env,
              HOME: dir,
              JUPYTER_CONFIG_DIR: join(dir, "config"),
              JUPYTER_DATA_DIR: join(dir, "data"),
              JUPYTER_RUNTIME_DIR: join(dir, "runtime"),
            },
            stdio: ["ignore", "pipe", "pipe"],
          },
        );
        let log = "";
        const onData = (c: Buffer) => {
          log += c.toString();
          if (/is running at/.test(log)) {
            child = proc;
            resolve(p);
          } else if (/already in use|Address already/.test(log)) {
            proc.kill("SIGKILL");
            reject(new PortInUseError(p, log.slice(-200)));
          }
        };
        proc.stdout.on("data", onData);
        proc.stderr.on("data", onData);
        proc.on("exit", (code) =>
          reject(new Error(`jupyter-notebook exited (${code}): ${log.slice(-500)}`)),
        );
      });
    }

    it("logs in through the jar and the server accepts the cookies it sends", async () => {
      const { jars, base } = await login(port, TOKEN);
      await expectLoggedIn(port, jars, base);
    });
  },
);
