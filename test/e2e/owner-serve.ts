// What the browser tests of the signed-in page share (admin, page-shell): `corridor serve`
// with its control server mounted, owner links and no identity provider, the page built into
// the test's temp dir, and the relay taking both open and control-token clients so that the
// page's wg-quick networks and the mesh's nodes both reach it.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openControlStore, relayUrlOf } from "../../cli/control-flags.ts";
import {
  ControlMount,
  type ControlService,
  startControlService,
} from "../../server/control/http.ts";
import type { Store } from "../../server/control/store/types.ts";
import { createLogger } from "../../server/log.ts";
import { type ServeHandle, type ServeOptions, startServe } from "../../server/web/serve.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { buildPage } from "./wg-lab.ts";

/** A running `corridor serve` with its control server; closeOwnerServe stops it. */
export interface OwnerServe {
  /** The temp dir (the page's build, control.db), removed by closeOwnerServe. */
  tmp: string;
  /** The control store (control.db in the temp dir), for owner links and checks. */
  store: Store;
  serve: ServeHandle;
  control: ControlService;
}

/**
 * The relay's auth as `corridor serve` sets it up with a control server: open to the page's
 * wg-quick networks, and to the mesh's clients with a token of the control key `tokenKey`.
 */
export function openAndTokens(tokenKey: Uint8Array): NonNullable<ServeOptions["relay"]>["auth"] {
  return { mode: "union", of: [{ mode: "open" }, { mode: "token", controlPublicKey: tokenKey }] };
}

/**
 * Makes a temp dir corridor-RELAYID-*, builds the page into it, opens its control.db, lets
 * `seed` fill the store before anything serves it, and starts `corridor serve` (relay
 * `relayId`, region "local") with the control server on it; the control server logs only
 * errors, and those to nowhere. What was made is closed and removed again if a step fails.
 */
export async function startOwnerServe(
  relayId: string,
  seed: (store: Store) => Promise<void> = async () => {},
): Promise<OwnerServe> {
  const made: Partial<OwnerServe> = { tmp: mkdtempSync(join(tmpdir(), `corridor-${relayId}-`)) };
  try {
    const tmp = made.tmp!;
    const webRoot = await buildPage(tmp);
    const opened = await openControlStore(join(tmp, "control.db"));
    const store = opened.store;
    made.store = store;
    await seed(store);
    const mount = new ControlMount();
    const serve = await startServe({
      port: 0,
      webRoot,
      mount,
      relay: { auth: openAndTokens(opened.tokenPublicKey), relayId, log: () => {} },
    });
    made.serve = serve;
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
    return { tmp, store, serve, control };
  } catch (error) {
    await closeOwnerServe(made);
    throw error;
  }
}

/** Closes what of `owner` there is (control server, serve, store) and removes its temp dir. */
export async function closeOwnerServe(owner: Partial<OwnerServe> | undefined): Promise<void> {
  await owner?.control?.close();
  await owner?.serve?.close();
  await owner?.store?.close();
  if (owner?.tmp) rmSync(owner.tmp, { recursive: true, force: true });
}
