// A TCP proxy that holds every chunk for a set time in each direction: the direct-path lab puts
// it in front of the relay, so the relay is "elsewhere" (as a relay in a data centre is, for a
// page and an agent on one network) while the direct path between them is not delayed. This
// kernel has no netem, hence userspace. Order is kept (timers of one duration fire in order);
// the delay can change while it runs (0: a plain proxy).

import { connect, createServer, type Server, type Socket } from "node:net";

/** A running proxy. */
export interface DelayProxy {
  port: number;
  /** The one-way delay now (ms), applied to chunks read from then on. */
  delayMs: number;
  close(): Promise<void>;
}

/** Listens on `host`:0 and forwards each connection to `target()` with `delayMs` each way. */
export async function startDelayProxy(
  host: string,
  delayMs: number,
  target: () => { host: string; port: number },
): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  const state = { delayMs };
  const forward = (from: Socket, to: Socket) => {
    from.on("data", (chunk: Buffer) => {
      if (state.delayMs <= 0) to.write(chunk);
      else setTimeout(() => to.write(chunk), state.delayMs);
    });
    from.on("end", () => setTimeout(() => to.end(), state.delayMs));
  };
  const server: Server = createServer((client) => {
    const upstream = connect(target());
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
      s.on("close", () => sockets.delete(s));
    }
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("delay proxy: no port");
  return {
    port: address.port,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms: number) {
      state.delayMs = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
