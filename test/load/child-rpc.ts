// The parent's side of the load rig's IPC: forks a TypeScript child under tsx, waits for its
// first message (its "ready"), then sends requests with ids and resolves each with the reply of
// the same id. A child that exits rejects everything still waiting, with its exit code, so a
// crashed server or worker fails the run instead of hanging it.

import { type ChildProcess, fork } from "node:child_process";

/** A forked child answering requests by id. */
export class ChildRpc<Req extends { id: number; op: string }, Rep extends { id: number }> {
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (reply: Rep) => void; reject: (e: Error) => void }
  >();
  private exited: Error | undefined;

  private constructor(
    readonly child: ChildProcess,
    readonly name: string,
  ) {
    child.on("message", (message) => {
      const reply = message as Rep;
      const waiter = this.waiting.get(reply.id);
      if (waiter === undefined) return;
      this.waiting.delete(reply.id);
      waiter.resolve(reply);
    });
    child.on("exit", (code, signal) => {
      this.exited = new Error(`${name} exited (${signal ?? code})`);
      for (const waiter of this.waiting.values()) waiter.reject(this.exited);
      this.waiting.clear();
    });
  }

  /**
   * Forks `script` (a .ts file) with `args`; resolves with the child and its first message.
   * `gc` exposes global.gc (for RSS after a forced collection); `extraExecArgv` goes to node
   * as well (e.g. --cpu-prof for a profile of the child).
   */
  static async start<R extends { id: number; op: string }, P extends { id: number }, Ready>(
    script: string,
    args: string[],
    name: string,
    gc = false,
    extraExecArgv: string[] = [],
  ): Promise<{ rpc: ChildRpc<R, P>; ready: Ready }> {
    const child = fork(script, args, {
      execArgv: ["--import", "tsx", ...(gc ? ["--expose-gc"] : []), ...extraExecArgv],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const ready = await new Promise<Ready>((resolve, reject) => {
      const onExit = (code: number | null) =>
        reject(new Error(`${name} exited (${code}) before it was ready`));
      child.once("exit", onExit);
      child.once("message", (message) => {
        child.off("exit", onExit);
        resolve(message as Ready);
      });
    });
    return { rpc: new ChildRpc<R, P>(child, name), ready };
  }

  /** Sends a request; resolves with its reply (an `ok: false` reply rejects with its error). */
  call<R extends DistributiveOmit<Req, "id">>(
    request: R,
  ): Promise<Extract<Rep, { ok: true; op: R["op"] }>> {
    if (this.exited !== undefined) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, {
        resolve: (reply) => {
          const r = reply as Rep & { ok: boolean; error?: string };
          if (r.ok) resolve(reply as Extract<Rep, { ok: true; op: R["op"] }>);
          else reject(new Error(`${this.name}: ${r.error ?? "failed"}`));
        },
        reject,
      });
      this.child.send({ ...request, id });
    });
  }

  /** Ends the child: asks it to exit, kills it if it has not after `graceMs`. */
  async stop(exitRequest: DistributiveOmit<Req, "id"> | undefined, graceMs = 5000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    if (exitRequest !== undefined && this.child.connected) {
      this.call(exitRequest).catch(() => {});
    } else {
      this.child.kill("SIGTERM");
    }
    await exited;
    clearTimeout(timer);
  }
}

/** Omit over each member of a union (the builtin Omit merges the members first). */
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
