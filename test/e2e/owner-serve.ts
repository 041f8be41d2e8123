// What the browser tests of the signed-in page share (admin, page-shell): `corridor serve`
// with its control server mounted, owner links and no identity provider, the page built into
// the test's temp dir, and the relay taking both open and control-token clients so that the
// page's wg-quick networks and the mesh's nodes both reach it.

import { join } from "node:path";
import { openControlStore, relayUrlOf } from "../../cli/control-flags.ts";
import {
  ControlMount,
  type ControlService,
  startControlService,
} from "../../server/control/http.ts";
import type { Store } from "../../server/control/store/types.ts";
import { createLogger } from "../../server/log.ts";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { buildPage } from "./wg-lab.ts";

/** A running `corridor serve` with its control server; the caller closes each part. */
export interface OwnerServe {
  /** The control store (control.db in the temp dir), for owner links and checks. */
  store: Store;
  serve: ServeHandle;
  control: ControlService;
}

/**
 * Builds the page into `tmp`, opens `tmp`/control.db, lets `seed` fill the store before
 * anything serves it, and starts `corridor serve` (relay `relayId`, region "local") with the
 * control server on it; the control server logs only errors, and those to nowhere.
 */
export async function startOwnerServe(
  tmp: string,
  relayId: string,
  seed: (store: Store) => Promise<void> = async () => {},
): Promise<OwnerServe> {
  const webRoot = await buildPage(tmp);
  const opened = await openControlStore(join(tmp, "control.db"));
  const store = opened.store;
  await seed(store);
  const mount = new ControlMount();
  const serve = await startServe({
    port: 0,
    webRoot,
    mount,
    relay: {
      auth: {
        mode: "union",
        of: [{ mode: "open" }, { mode: "token", controlPublicKey: opened.tokenPublicKey }],
      },
      relayId,
      log: () => {},
    },
  });
  const control = await startControlService(mount, {
    store,
    relays: [
      {
        id: relayId,
        region: "local",
        url: relayUrlOf(serve.url),
        key: keyToBase64(serve.relay.relayPublicKey),
      },
    ],
    baseUrl: serve.url,
    log: createLogger({ level: "error", sink: () => {} }),
  });
  return { store, serve, control };
}
