// Web Worker entry: exposes the engine API to the page over comlink.

import { expose } from "comlink";
import { createEngineApi } from "./api.ts";

expose(createEngineApi());
