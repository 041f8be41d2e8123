// The parts of the service worker scope the app origin's worker uses: tsc loads the DOM lib for
// web/, not the WebWorker one, so these are declared here (as web/download-sw.ts does).

/** An event whose handling may extend the worker's life. */
export interface SwEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}

/** A window or worker of this origin that the service worker can message. */
export interface SwClient {
  readonly id: string;
  readonly url: string;
  readonly type: string;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}

/** A fetch of a page this worker controls (or a navigation in its scope). */
export interface SwFetchEvent extends SwEvent {
  readonly request: Request;
  readonly clientId: string;
  readonly resultingClientId: string;
  respondWith(response: Response | Promise<Response>): void;
}

/** A message from a client of this origin. */
export interface SwMessageEvent extends SwEvent {
  readonly data: unknown;
  readonly ports: readonly MessagePort[];
  readonly source: SwClient | null;
}

/** The service worker's global scope, as far as it is used. */
export interface SwScope {
  skipWaiting(): Promise<void>;
  clients: {
    claim(): Promise<void>;
    matchAll(options?: { type?: string; includeUncontrolled?: boolean }): Promise<SwClient[]>;
  };
  addEventListener(type: "install" | "activate", listener: (event: SwEvent) => void): void;
  addEventListener(type: "fetch", listener: (event: SwFetchEvent) => void): void;
  addEventListener(type: "message", listener: (event: SwMessageEvent) => void): void;
}
