// The sign-in pages' script (served by server/control/api/pages.ts under a strict CSP): posts
// an owner or invitation link's token, which sits in the URL's fragment and so never reached a
// server, then removes it from the address bar; or approves/denies a waiting agent.

const main = document.querySelector("main");
const message = document.getElementById("message");

function say(text) {
  message.textContent = text;
}

function addLink(href, text) {
  const p = document.createElement("p");
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  p.append(a);
  main.append(p);
}

async function call(method, path, body, csrf) {
  const headers = { "content-type": "application/json" };
  if (csrf) headers["x-corridor-csrf"] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await res.json().catch(() => ({}));
  return { ok: res.ok, status: res.status, data };
}

async function signIn() {
  const token = location.hash.slice(1);
  // The secret leaves the address bar (and history) before anything else happens.
  history.replaceState(null, "", location.pathname);
  if (token === "") {
    say("This link carries no sign-in token: open the whole link you were given.");
    return;
  }
  const { ok, status, data } = await call("POST", "/api/v1/login/link", { token });
  if (!ok) {
    say(data.message ?? `Sign-in failed (HTTP ${status}).`);
    return;
  }
  say(`Signed in as ${data.user.name}${data.user.email ? ` (${data.user.email})` : ""}.`);
  const back = savedRoute();
  addLink(`/${back ?? ""}`, "Open Corridor");
  // The page sent the person here (it saved its route in this tab): straight back to it.
  if (back !== null) location.replace(`/${back}`);
}

/** The route the page saved before sign-in (web/shell/return-route.ts), or null. */
function savedRoute() {
  let route = null;
  try {
    route = sessionStorage.getItem("corridor.return");
  } catch {
    return null;
  }
  // Only the page's own fragments: "#/..." without spaces or control characters.
  return route !== null && route.length <= 1024 && /^#\/[\x21-\x7e]*$/.test(route) ? route : null;
}

async function approve() {
  const id = location.pathname.split("/").pop();
  const who = await call("GET", "/api/v1/whoami");
  if (who.status === 401) {
    say("Sign in first, then open this link again.");
    addLink(`/login/oidc?return=${encodeURIComponent(location.pathname)}`, "Sign in");
    return;
  }
  const pending = await call("GET", `/api/v1/approvals/${id}`);
  if (!pending.ok) {
    say(pending.data.message ?? `Cannot load this request (HTTP ${pending.status}).`);
    return;
  }
  const a = pending.data.approval;
  say(`${a.hostname} (${a.os}) asks to join as yours, ${who.data.user.name}. Key ${a.nodeKey}.`);
  for (const [label, yes] of [
    ["Approve", true],
    ["Deny", false],
  ]) {
    const button = document.createElement("button");
    button.textContent = label;
    button.addEventListener("click", async () => {
      const r = await call("POST", `/api/v1/approvals/${id}`, { approve: yes }, who.data.csrf);
      say(
        r.ok
          ? yes
            ? "Approved: the device joins now."
            : "Denied."
          : (r.data.message ?? `HTTP ${r.status}`),
      );
      for (const b of main.querySelectorAll("button")) b.remove();
    });
    main.append(button);
  }
}

const mode = document.body.dataset.mode;
if (mode === "owner" || mode === "invite") signIn();
else if (mode === "approve") approve();
