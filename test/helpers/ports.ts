// Ports for tests without races between test files running in parallel.
//
// A Node server listens on port 0 and the test reads the port the kernel chose from the server
// itself (listenOnLoopback): nothing can take it in between. The old way, asking the kernel for
// a free port, closing it and handing the number to someone else, races with every other
// process doing the same, and they all draw from the same ephemeral range.
//
// An external program that must be told its port up front (sshd, dropbear) gets candidates from
// a block of ports outside Linux's ephemeral range (32768-60999, where listen(0) and outgoing
// connections take theirs), a block chosen by this test process's id; the caller still retries
// with the next candidate when the program reports the port as taken (withPortRetry), because
// two separate vitest runs on one machine can hold the same VITEST_POOL_ID.

import { createServer, type Server } from "node:net";

/** Listens on port 0 of `host` and resolves with the port the kernel chose. */
export async function listenOnLoopback(server: Server, host = "127.0.0.1"): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string") {
    throw new Error(`listenOnLoopback: no TCP address after listen on ${host}`);
  }
  return address.port;
}

/** First port of the blocks handed to external programs (below the ephemeral range). */
const BLOCKS_START = 20_000;
const BLOCK_SIZE = 100;
/** 120 blocks: 20000-31999, all below net.ipv4.ip_local_port_range's 32768. */
const BLOCK_COUNT = 120;

/**
 * This process's block: vitest numbers its workers (VITEST_POOL_ID, 1 and up); anything else
 * (a benchmark run by tsx) falls back to its pid. The offset inside the block starts at the pid
 * so two runs that share a pool id try different ports first.
 */
function blockOf(pid: number, poolId: string | undefined): { first: number; start: number } {
  const id = Number.parseInt(poolId ?? "", 10);
  const block = Number.isInteger(id) && id > 0 ? id % BLOCK_COUNT : 60 + (pid % 60);
  return { first: BLOCKS_START + block * BLOCK_SIZE, start: pid % BLOCK_SIZE };
}

let nextCandidate = 0;

/**
 * The next port of this process's block that nothing listens on right now (on `host`). Every
 * call moves on, so servers started one after another never get the same port.
 */
export async function reservedPort(host = "127.0.0.1"): Promise<number> {
  const { first, start } = blockOf(process.pid, process.env.VITEST_POOL_ID);
  for (let tries = 0; tries < BLOCK_SIZE; tries++) {
    const port = first + ((start + nextCandidate++) % BLOCK_SIZE);
    if (await canListen(port, host)) return port;
  }
  throw new Error(`reservedPort: every port of ${first}-${first + BLOCK_SIZE - 1} is in use`);
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** Thrown by a `start` function of withPortRetry when its program found the port taken. */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    detail: string,
  ) {
    super(`port ${port} is in use: ${detail}`);
    this.name = "PortInUseError";
  }
}

/**
 * Starts an external program on reservedPort() candidates until one is not taken by someone
 * else between the probe and the program's bind (start throws PortInUseError for that).
 */
export async function withPortRetry<T>(
  start: (port: number) => Promise<T>,
  host = "127.0.0.1",
  attempts = 5,
): Promise<T> {
  let last: PortInUseError | undefined;
  for (let i = 0; i < attempts; i++) {
    try {
      return await start(await reservedPort(host));
    } catch (error) {
      if (!(error instanceof PortInUseError)) throw error;
      last = error;
    }
  }
  throw new Error(`no free port after ${attempts} attempts; last: ${last?.message}`);
}
