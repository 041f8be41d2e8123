// What the admin sections share with their host view. The control API's JSON bodies they read
// are in worker/control/api-views.ts, shared with the server that builds them.

import type { ControlApi, WhoAmI } from "../control-api.ts";

/** What every admin section gets: the API client and who is signed in. */
export interface AdminDeps {
  api: Pick<ControlApi, "get" | "send">;
  me: WhoAmI;
}

/** A mounted section: its element, and stop() to end its timers when it leaves the screen. */
export interface AdminSectionView {
  element: HTMLElement;
  stop(): void;
}
