// The client against Python's http.server (an HTTP/1.1 implementation independent of Node's):
// keep-alive reuse, chunked with extensions and trailers, close-delimited, HEAD, 304,
// gzip/deflate, 100-continue, an upload. The fixture is test/http/fixtures/py_http_server.py.

import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type HttpResponse, httpRequest } from "../../worker/http/client.ts";
import { HttpPool } from "../../worker/http/pool.ts";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";
import { nodeDial } from "./node-dial.ts";

const python = prereq(executable("/usr/bin/python3"));
const here = dirname(fileURLToPath(import.meta.url));

async function text(res: HttpResponse): Promise<string> {
  return new Response(res.body).text();
}

describeWithPrereq(python, "HTTP client against python3 http.server", () => {
  let child: ChildProcess;
  let base = "";
  beforeAll(async () => {
    child = spawn("/usr/bin/python3", [join(here, "fixtures/py_http_server.py")], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", resolve);
      child.once("exit", (code) => reject(new Error(`python fixture exited ${code}`)));
    });
    base = `http://127.0.0.1:${line.trim()}`;
  });
  afterAll(() => {
    child?.kill();
  });

  it("reuses one connection (the server sees one client port) and reads every framing", async () => {
    const p = new HttpPool({ dial: nodeDial() });
    const get = (path: string) => httpRequest(p, { method: "GET", url: base + path });
    const ports = [];
    for (let i = 0; i < 4; i++) ports.push(await text(await get("/peer")));
    expect(new Set(ports).size).toBe(1);
    const c = await get("/chunked");
    expect(await text(c)).toBe("alpha beta gamma");
    expect(c.trailers()).toEqual([["X-Done", "yes"]]);
    expect(await text(await get("/close"))).toBe("closed at the end");
    expect(await text(await get("/gzip"))).toBe("py ".repeat(1000));
    expect(await text(await get("/deflate"))).toBe("py ".repeat(1000));
    const head = await httpRequest(p, { method: "HEAD", url: `${base}/gzip` });
    expect([head.status, await text(head)]).toEqual([200, ""]);
    const nm = await get("/304");
    expect([nm.status, await text(nm)]).toEqual([304, ""]);
    const h = JSON.parse(await text(await get("/headers")));
    expect(h).toMatchObject({ Host: base.slice(7), "Accept-Encoding": "gzip, deflate" });
  });

  it("uploads with Content-Length, and after 100 Continue", async () => {
    const p = new HttpPool({ dial: nodeDial() });
    const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    const sum = data.reduce((a, b) => (a + b) % 65521, 0);
    const r = await httpRequest(p, { method: "POST", url: `${base}/up`, body: data });
    expect(JSON.parse(await text(r))).toEqual({ length: data.length, sum });
    const stream = new Blob([data]).stream();
    const r2 = await httpRequest(p, {
      method: "PUT",
      url: `${base}/up`,
      headers: [
        ["Content-Length", String(data.length)],
        ["Expect", "100-continue"],
      ],
      body: stream,
    });
    expect(JSON.parse(await text(r2))).toEqual({ length: data.length, sum });
  });
});
