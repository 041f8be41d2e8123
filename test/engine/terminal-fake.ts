// The page's side of a session's terminal port, for engine tests: collects the output as text
// (acknowledging it, as the page does) and types input.

import type { TerminalMessage } from "../../worker/api.ts";

/** A terminal on the page's side of a session's port. */
export class Terminal {
  readonly channel = new MessageChannel();
  text = "";

  constructor() {
    this.channel.port1.onmessage = (event: MessageEvent<TerminalMessage>) => {
      const m = event.data;
      if (m.type !== "output") return;
      this.text += new TextDecoder().decode(m.data);
      this.channel.port1.postMessage({ type: "ack", bytes: m.data.length });
    };
  }

  type(text: string): void {
    this.channel.port1.postMessage({ type: "input", data: new TextEncoder().encode(text) });
  }

  close(): void {
    this.channel.port1.close();
  }
}
