// Real apps we did not write through the whole private-URL chain in Chromium (issue 16): the
// lab of private-urls-lab.ts (the Corridor page with a wg-quick network to a wireguard-go
// host) with Jupyter Notebook and Transmission started on the host's tunnel address
// (test/helpers/apps.ts), each opened at its app origin as a person would.
// Jupyter: the token login form (its _xsrf cookie read by the page's JS, the HttpOnly session
// cookie), a notebook created through its API with the X-XSRFToken header from document.cookie,
// and a cell 6*7 run over the kernel WebSocket (Jupyter checks that Origin matches Host).
// Transmission: Basic auth through the credentials page, then its web UI's RPC (200), and the
// 409 with a session id a request without it gets, then 200 once resent with it.

import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import {
  type JupyterApp,
  jupyterPrereq,
  startJupyter,
  startTransmission,
  type TransmissionApp,
  transmissionPrereq,
} from "../helpers/apps.ts";
import { check, describeWithPrereq, prereq } from "../helpers/prereq.ts";
import {
  openApp,
  type PrivateUrlsLab,
  privateUrlsPrereq,
  shoot,
  startPrivateUrlsLab,
} from "./private-urls-lab.ts";

const TIMEOUT = 180_000;
const need = prereq(
  ...[privateUrlsPrereq(), jupyterPrereq(), transmissionPrereq()]
    .flatMap((p) => p.missing)
    .map((w) => check(w, false)),
);

describeWithPrereq(need, "real apps through private URLs (Chromium)", () => {
  let lab: PrivateUrlsLab;
  let jupyter: JupyterApp;
  let transmission: TransmissionApp;
  /** What the Transmission test's pages reported beyond the expected 401 and 409 loads. */
  let transmissionProblems: string[] = ["the Transmission test did not run"];

  beforeAll(async () => {
    lab = await startPrivateUrlsLab("pap");
    [jupyter, transmission] = await Promise.all([
      startJupyter({ host: lab.host }),
      startTransmission({ host: lab.host }),
    ]);
  }, 300_000);

  afterAll(async () => {
    await Promise.all([jupyter?.stop(), transmission?.stop()]);
    await lab?.close();
  }, 60_000);

  beforeEach(() => {
    if (lab !== undefined) lab.problems.length = 0;
  });

  it(
    "Jupyter: token login, a notebook created with the XSRF header, 6*7 run over the kernel WebSocket",
    async () => {
      const origin = lab.appOrigin(jupyter.port);
      const { page } = await openApp(lab, `${origin}/login`);
      // The page's JS can read _xsrf; the session cookie it cannot (HttpOnly).
      expect(await page.evaluate(() => document.cookie)).toMatch(/(^|; )_xsrf=/);
      await page.locator("#password_input").fill(jupyter.token);
      await Promise.all([
        page.waitForURL(`${origin}/tree**`, { timeout: 60_000 }),
        page.locator("#login_submit").click(),
      ]);
      await page.locator("#notebook_list").waitFor({ timeout: 60_000 });
      expect(await page.evaluate(() => document.cookie)).not.toMatch(/username-/);
      await shoot(page, "jupyter-tree");

      const created = await page.evaluate(async () => {
        const xsrf = /(?:^|; )_xsrf=([^;]*)/.exec(document.cookie)?.[1] ?? "";
        const post = (headers: Record<string, string>) =>
          fetch("/api/contents", {
            method: "POST",
            headers: { "Content-Type": "application/json", ...headers },
            body: JSON.stringify({ type: "notebook" }),
          });
        const without = (await post({})).status;
        const made = await post({ "X-XSRFToken": decodeURIComponent(xsrf) });
        return {
          without,
          status: made.status,
          path: ((await made.json()) as { path: string }).path,
        };
      });
      expect(created).toMatchObject({ without: 403, status: 201 });

      await page.goto(`${origin}/notebooks/${encodeURIComponent(created.path)}`);
      await page.locator("#kernel_indicator_icon.kernel_idle_icon").waitFor({ timeout: 90_000 });
      await page.locator(".CodeMirror").first().click();
      await page.keyboard.type("6*7");
      await page.keyboard.press("Shift+Enter");
      await expect
        .poll(
          () =>
            page.evaluate(() => document.querySelector("#notebook-container")?.textContent ?? ""),
          {
            timeout: 60_000,
          },
        )
        .toMatch(/Out\[1\]:\s*42/);
      await shoot(page, "jupyter-notebook");
      // Jupyter's own noise, the same without Corridor: the 403 of the POST without the header
      // (a failed load), Debian's package lacking the widgets nbextension its page asks for
      // (404, then a refused text/html script), Notebook 6's SessionAlreadyStarting race on load.
      const own = /status of 40[34]|nbextensions\/widgets|SessionAlreadyStarting/;
      expect(lab.problems.filter((m) => !own.test(m))).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    "Transmission: Basic auth through the credentials page, then its RPC's 409 and 200",
    async () => {
      const origin = lab.appOrigin(transmission.port);
      const { page } = await openApp(lab, `${origin}/transmission/web/`);
      await page.locator("#credentials").waitFor();
      const rpc: number[] = [];
      page.on("response", (r) => {
        if (r.url().startsWith(`${origin}/transmission/rpc`)) rpc.push(r.status());
      });
      await page.locator("#username").fill(transmission.user);
      await page.locator("#password").fill(transmission.password);
      await Promise.all([page.waitForEvent("load"), page.locator("#submit").click()]);
      await expect.poll(() => rpc.includes(200), { timeout: 60_000 }).toBe(true);
      // The 409 dance from the page itself: the session id header is readable and, resent
      // through the engine with the stored Basic credentials, gets 200.
      const dance = await page.evaluate(async () => {
        const body = JSON.stringify({ method: "session-get" });
        const first = await fetch("/transmission/rpc", { method: "POST", body });
        const id = first.headers.get("X-Transmission-Session-Id") ?? "";
        const again = await fetch("/transmission/rpc", {
          method: "POST",
          body,
          headers: { "X-Transmission-Session-Id": id },
        });
        return {
          first: first.status,
          id,
          again: again.status,
          result: (await again.json()).result,
        };
      });
      expect(dance).toMatchObject({ first: 409, again: 200, result: "success" });
      expect(dance.id).toMatch(/^\w{20,}$/);
      await expect.poll(() => page.title(), { timeout: 30_000 }).toMatch(/Transmission/);
      await shoot(page, "transmission");
      transmissionProblems = lab.problems.filter((m) => !/status of (401|409)/.test(m));
    },
    TIMEOUT,
  );

  // Known failure: Transmission 3.00's web UI sends its first RPCs (loadDaemonPrefs,
  // loadDaemonStats) as synchronous XHR, which Chromium 156 does not hand to the service worker:
  // they reach corridor serve, which has no way onto the mesh and answers with the bootstrap
  // page, so the UI's ajaxError opens a dialog before the dialog exists ("Cannot read
  // properties of undefined (reading 'updateButtonStates')", dialog.js:90 from remote.js:59).
  // It then recovers: its next, asynchronous RPC is carried and gets 200 (the test above).
  // When synchronous XHR is carried, this passes: make it a plain `it`.
  it.fails("Transmission: its web UI loads without a page error", () => {
    expect(transmissionProblems).toEqual([]);
  });
});
