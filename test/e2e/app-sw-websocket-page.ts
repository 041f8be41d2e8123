// The page half of test/e2e/app-sw-websocket.test.ts, bundled by esbuild and run in Chromium:
// the same scenarios run with the browser's own WebSocket and with the injected script's class
// (web/app-inject/websocket.ts), and each writes a log of what a page sees (events, readyState,
// data, exceptions). The class is linked to a stand-in engine here that carries each socket
// with the browser's own WebSocket to the same Node server, speaking the real SocketCommand /
// SocketEvent messages, so any difference between the two logs is the class's.

import { makeWebSocketClass } from "../../web/app-inject/websocket.ts";
import type { SocketCommand, SocketEvent } from "../../worker/http/app-port.ts";

const Native = window.WebSocket;

/** The stand-in engine: one native socket per port, SocketCommand in, SocketEvent out. */
function engine(url: string, protocols: string[], port: MessagePort): void {
  const ws = new Native(url, protocols);
  ws.binaryType = "arraybuffer";
  const tell = (event: SocketEvent, transfer: Transferable[] = []) =>
    port.postMessage(event, transfer);
  ws.onopen = () => tell({ type: "open", protocol: ws.protocol, extensions: ws.extensions });
  ws.onmessage = (event) => tell({ type: "message", data: event.data as string | ArrayBuffer });
  ws.onclose = (event) =>
    tell({ type: "closed", code: event.code, reason: event.reason, wasClean: event.wasClean });
  port.onmessage = (event: MessageEvent) => {
    const command = event.data as SocketCommand;
    if (command.type === "send") {
      ws.send(command.data);
      tell({ type: "buffered", amount: ws.bufferedAmount });
    } else if (command.code === undefined) ws.close();
    else ws.close(command.code, command.reason);
  };
}

const Corridor = makeWebSocketClass({
  baseUrl: () => document.baseURI,
  origin: () => location.origin,
  native: Native,
  open(url, protocols, port) {
    engine(url, protocols, port);
    return true;
  },
});

type WS = typeof WebSocket;

function caught(f: () => unknown): string {
  try {
    f();
    return "no exception";
  } catch (error) {
    return error instanceof Error ? `${error.name}` : `non-error ${String(error)}`;
  }
}

/** Logs every event of `ws` and resolves on its close event (or after 8 s). */
function watch(ws: WebSocket, log: string[], onOpen?: () => void, onMessage?: (n: number) => void) {
  let messages = 0;
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      log.push("timeout");
      resolve();
    }, 8_000);
    ws.addEventListener("open", () => {
      log.push(`open rs=${ws.readyState} protocol=${ws.protocol} ext=${ws.extensions}`);
      onOpen?.();
    });
    ws.addEventListener("message", (event) => {
      const e = event as MessageEvent;
      const d = e.data as unknown;
      const what =
        typeof d === "string"
          ? `text ${d}`
          : d instanceof Blob
            ? `Blob ${d.size}`
            : d instanceof ArrayBuffer
              ? `ArrayBuffer ${[...new Uint8Array(d)].join(",")}`
              : `other ${String(d)}`;
      log.push(`message ${what} origin=${e.origin} event=${e.constructor.name}`);
      onMessage?.(++messages);
    });
    ws.addEventListener("error", (event) => {
      log.push(`error rs=${ws.readyState} event=${event.constructor.name}`);
    });
    ws.addEventListener("close", (event) => {
      const e = event as CloseEvent;
      log.push(
        `close code=${e.code} reason=${e.reason} clean=${e.wasClean} rs=${ws.readyState} event=${e.constructor.name}`,
      );
      clearTimeout(timer);
      resolve();
    });
  });
}

const base = () => `ws://${location.host}`;

/** Scenarios: each runs with a WebSocket class and returns its log. */
const scenarios: Record<string, (W: WS) => Promise<string[]>> = {
  async echo(W) {
    const log: string[] = [];
    const ws = new W(`${base()}/echo`, ["chat", "superchat"]);
    log.push(
      `created rs=${ws.readyState} url=${ws.url} protocol=${ws.protocol} type=${ws.binaryType}`,
    );
    const done = watch(
      ws,
      log,
      () => {
        ws.send("hello");
        ws.send(new Uint8Array([1, 2, 3]).buffer);
        ws.send(new Blob(["blob!"]));
        ws.send(new Uint8Array([9, 8, 7, 6, 5]).subarray(1, 3));
        ws.send("after blob");
      },
      (n) => {
        if (n === 2) ws.binaryType = "arraybuffer";
        if (n === 5) ws.close(3000, "done é");
      },
    );
    await done;
    return log;
  },
  async exceptions(W) {
    const log: string[] = [];
    log.push(`no args: ${caught(() => new (W as unknown as new () => WebSocket)())}`);
    log.push(`bad url: ${caught(() => new W("ws://[bad"))}`);
    log.push(`bad scheme: ${caught(() => new W("ftp://127.0.0.1/x"))}`);
    log.push(`fragment: ${caught(() => new W(`${base()}/echo#x`))}`);
    log.push(`bad protocol: ${caught(() => new W(`${base()}/echo`, ["a b"]))}`);
    log.push(`duplicate protocol: ${caught(() => new W(`${base()}/echo`, ["x", "x"]))}`);
    log.push(`empty protocol: ${caught(() => new W(`${base()}/echo`, ""))}`);
    const ws = new W(`http://${location.host}/echo?q=1`);
    log.push(`http url: ${ws.url}`);
    log.push(`send connecting: ${caught(() => ws.send("x"))}`);
    log.push(`send nothing: ${caught(() => (ws.send as () => void)())}`);
    log.push(`close 1001: ${caught(() => ws.close(1001))}`);
    log.push(`close 0: ${caught(() => ws.close(0))}`);
    log.push(`close long reason: ${caught(() => ws.close(1000, "x".repeat(124)))}`);
    log.push(
      `binaryType bogus: ${caught(() => {
        (ws as { binaryType: string }).binaryType = "bogus";
      })} -> ${ws.binaryType}`,
    );
    const done = watch(ws, log);
    ws.close();
    log.push(`after close rs=${ws.readyState}`);
    await done;
    const before = ws.bufferedAmount;
    ws.send("abc");
    ws.send(new Uint8Array(10));
    log.push(`buffered after closed: +${ws.bufferedAmount - before}`);
    return log;
  },
  async serverClose(W) {
    const log: string[] = [];
    const ws = new W(`${base()}/echo`);
    await watch(ws, log, () => ws.send("close-me"));
    return log;
  },
  async refused(W) {
    const log: string[] = [];
    const ws = new W(`${base()}/reject`);
    await watch(ws, log);
    return log;
  },
  async dropped(W) {
    const log: string[] = [];
    const ws = new W(`${base()}/drop`);
    await watch(ws, log);
    return log;
  },
  async handlers(W) {
    const log: string[] = [];
    const ws = new W(`${base()}/echo`);
    ws.onmessage = () => log.push("onmessage A");
    ws.addEventListener("message", () => log.push("listener 1"));
    ws.onmessage = () => log.push("onmessage B (same place)");
    ws.onopen = (() => undefined) as never;
    ws.onopen = null;
    ws.addEventListener("message", () => log.push("listener 2"));
    ws.onopen = () => {
      log.push("onopen");
      ws.send("one");
    };
    (ws as { onerror: unknown }).onerror = "not a function";
    log.push(`onerror after string: ${String(ws.onerror)}`);
    let count = 0;
    ws.addEventListener("message", () => {
      count++;
      if (count === 1) {
        ws.onmessage = null;
        ws.onmessage = () => log.push("onmessage C (moved to the end)");
        ws.send("two");
      } else ws.close();
    });
    await new Promise<void>((resolve) => {
      ws.onclose = (event) => {
        log.push(`onclose ${event.code} ${event.wasClean}`);
        resolve();
      };
    });
    return log;
  },
  async shape(W) {
    const log: string[] = [];
    log.push(`statics ${W.CONNECTING}${W.OPEN}${W.CLOSING}${W.CLOSED} name=${W.name}`);
    const ws = new W(`${base()}/echo`);
    log.push(`instance ${ws.CONNECTING}${ws.OPEN}${ws.CLOSING}${ws.CLOSED}`);
    log.push(
      `tag ${Object.prototype.toString.call(ws)} instanceof=${ws instanceof W} target=${ws instanceof EventTarget}`,
    );
    log.push(
      `keys ${["onopen", "onmessage", "onerror", "onclose", "url", "protocol", "send", "close", "bufferedAmount"].map((k) => k in ws).join(",")}`,
    );
    log.push(
      `initial on* ${ws.onopen} ${ws.onmessage} ${ws.onerror} ${ws.onclose} buffered=${ws.bufferedAmount}`,
    );
    const done = watch(ws, log, () => ws.close(1000));
    await done;
    return log;
  },
};

/** Runs one scenario with "native" or "corridor". */
async function run(name: string, which: "native" | "corridor"): Promise<string[]> {
  const scenario = scenarios[name];
  if (scenario === undefined) throw new Error(`no scenario ${name}`);
  return scenario(which === "native" ? Native : Corridor);
}

/** A socket to another origin gets the browser's own WebSocket, still `instanceof` ours. */
async function crossOrigin(otherHost: string): Promise<string[]> {
  const log: string[] = [];
  const ws = new Corridor(`ws://${otherHost}/echo`);
  log.push(
    `native=${ws instanceof Native} ours=${ws instanceof Corridor} proto=${Object.getPrototypeOf(ws) === Native.prototype}`,
  );
  await watch(
    ws,
    log,
    () => ws.send("hi"),
    () => ws.close(),
  );
  return log;
}

Object.assign(window, { corridorWs: { run, crossOrigin, names: Object.keys(scenarios) } });
