// The client against aiohttp (python3-aiohttp, gated): chunked streaming responses, a chunked
// streamed upload, keep-alive reuse, gzip and deflate from aiohttp's own compressor.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type HttpResponse, httpRequest } from "../../worker/http/client.ts";
import { HttpPool } from "../../worker/http/pool.ts";
import { check, describeWithPrereq, prereq } from "../helpers/prereq.ts";
import { nodeDial } from "./node-dial.ts";

const aiohttp = prereq(
  check(
    "python3-aiohttp",
    () => spawnSync("/usr/bin/python3", ["-c", "import aiohttp"]).status === 0,
  ),
);
const here = dirname(fileURLToPath(import.meta.url));

async function text(res: HttpResponse): Promise<string> {
  return new Response(res.body).text();
}

describeWithPrereq(aiohttp, "HTTP client against aiohttp", () => {
  let child: ChildProcess;
  let base = "";
  beforeAll(async () => {
    child = spawn("/usr/bin/python3", [join(here, "fixtures/aiohttp_server.py")], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", resolve);
      child.once("exit", (code) => reject(new Error(`aiohttp fixture exited ${code}`)));
    });
    base = `http://127.0.0.1:${line.trim()}`;
  });
  afterAll(() => {
    child?.kill();
  });

  it("streams chunked responses, decodes gzip/deflate, reuses one connection", async () => {
    const p = new HttpPool({ dial: nodeDial() });
    const get = (path: string) => httpRequest(p, { method: "GET", url: base + path });
    expect(await text(await get("/stream"))).toBe("one two three");
    expect(await text(await get("/gzip"))).toBe("aio ".repeat(1000));
    expect(await text(await get("/deflate"))).toBe("aio ".repeat(1000));
    const ports = new Set<string>();
    for (let i = 0; i < 3; i++) ports.add(await text(await get("/peer")));
    expect(ports.size).toBe(1);
    expect(p.stats().dialed).toBe(1);
  });

  it("uploads a streamed body with chunked coding", async () => {
    const p = new HttpPool({ dial: nodeDial() });
    const total = 8 * 1024 * 1024;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (sent >= total) return c.close();
          c.enqueue(new Uint8Array(64 * 1024).fill(sent % 256));
          sent += 64 * 1024;
        },
      },
      { highWaterMark: 0 },
    );
    const r = await httpRequest(p, { method: "POST", url: `${base}/echo`, body });
    expect(JSON.parse(await text(r))).toEqual({ length: total, te: "chunked" });
  });
});
