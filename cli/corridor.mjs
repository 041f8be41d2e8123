#!/usr/bin/env node
// The `corridor` command. Node 20 cannot run TypeScript itself, so tsx's loader is registered
// first and the TypeScript entry point imported after it.
import { register } from "tsx/esm/api";

register();
const { main } = await import("./main.ts");
process.exitCode = await main(process.argv.slice(2));
