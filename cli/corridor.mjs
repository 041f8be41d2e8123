#!/usr/bin/env node
// The `corridor` command. Node 20 cannot run TypeScript itself, so tsx's loader is registered
// first and the TypeScript entry point imported after it.
import { register } from "tsx/esm/api";

register();
const { main } = await import("./main.ts");
const status = await main(process.argv.slice(2));
// A finished command exits now: protocol timers (TCP's TIME_WAIT, WireGuard's key zeroing)
// must not keep the process alive. Writes to pipes, files and TTYs are synchronous on Linux.
process.exit(status);
