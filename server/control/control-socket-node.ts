// The map client's ControlSocket (worker/control/socket.ts) over the `ws` package, for the
// map client in Node: the agent, the CLI, tests and the control benchmark. The browser uses
// its own WebSocket through browserControlSocket(); worker/ never imports this file. The
// relay's `ws` adapter (server/relay/ws-node.ts) with text messages.

import { MAX_CONTROL_MESSAGE } from "../../worker/control/messages.ts";
import {
  CONTROL_MESSAGES,
  type ControlConnect,
  type ControlSocket,
} from "../../worker/control/socket.ts";
import {
  type NodeMessageKind,
  type NodeRelayConnectOptions,
  nodeMessageSocket,
} from "../relay/ws-node.ts";

/** Options of nodeControlConnect (maxPayload defaults to the stream's cap). */
export type NodeControlConnectOptions = NodeRelayConnectOptions;

/** The map stream's text messages over `ws`; a binary one closes with 1003. */
const NODE_CONTROL_MESSAGES: NodeMessageKind<string> = {
  ...CONTROL_MESSAGES,
  maxPayload: MAX_CONTROL_MESSAGE,
  decode: (data, isBinary) => (isBinary ? undefined : data.toString("utf8")),
  send: (ws, text) => ws.send(text),
};

/** A ControlConnect that opens `ws` WebSockets (no compression; text messages). */
export function nodeControlConnect(options: NodeControlConnectOptions = {}): ControlConnect {
  return (url, protocol) => nodeControlSocket(url, protocol, options);
}

/** One ControlSocket over a `ws` WebSocket. */
export function nodeControlSocket(
  url: string,
  protocol: string,
  options: NodeControlConnectOptions = {},
): ControlSocket {
  return nodeMessageSocket(url, protocol, options, NODE_CONTROL_MESSAGES);
}
