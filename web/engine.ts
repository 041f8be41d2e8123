// The engine as the page holds it: the comlink remote of worker/api.ts.

import type { Remote } from "comlink";
import type { EngineApi } from "../worker/api.ts";

export type Engine = Remote<EngineApi>;
