// "Add network": (a) import a wg-quick config (pasted or from a file), or (b) generate a key
// in the engine, show the [Peer] block to paste on the WireGuard host, and describe the host
// in a form. Errors from the engine appear next to the form, in its own words.

import type { NetworkSummary } from "../../worker/api.ts";
import { copyText, flashCopied } from "../clipboard.ts";
import { button, errorText, field, h, input } from "../dom.ts";
import type { Engine } from "../engine.ts";
import { hostPrefix, parseIp, stripPrefix } from "../ip.ts";

export function defaultRelayUrl(): string {
  return `${location.origin.replace(/^http/, "ws")}/relay`;
}

export function addNetworkView(
  engine: Engine,
  onCreated: (network: NetworkSummary) => void,
): HTMLElement {
  const importPanel = importForm(engine, onCreated);
  const generatePanel = generateForm(engine, onCreated);
  generatePanel.hidden = true;
  const importTab = button("Import a config", () => select("import"), {
    class: "segment selected",
    testid: "mode-import",
    attrs: { role: "tab", "aria-selected": "true" },
  });
  const generateTab = button("Generate a key", () => select("generate"), {
    class: "segment",
    testid: "mode-generate",
    attrs: { role: "tab", "aria-selected": "false" },
  });
  const select = (mode: "import" | "generate") => {
    importPanel.hidden = mode !== "import";
    generatePanel.hidden = mode !== "generate";
    importTab.classList.toggle("selected", mode === "import");
    generateTab.classList.toggle("selected", mode === "generate");
    importTab.setAttribute("aria-selected", String(mode === "import"));
    generateTab.setAttribute("aria-selected", String(mode === "generate"));
  };
  return h(
    "section",
    {
      class: "page add-network",
      testid: "add-network-page",
      attrs: { "aria-label": "Add a network" },
    },
    h("h1", { text: "Add a network" }),
    h(
      "p",
      { class: "lead" },
      "This browser joins a WireGuard network as one more peer. Its private key stays inside the engine.",
    ),
    h("div", { class: "segmented", attrs: { role: "tablist" } }, importTab, generateTab),
    importPanel,
    generatePanel,
  );
}

/** "Don't save" (memory only) and the relay URL under "Advanced", shared by both forms. */
function commonFields(prefix: string) {
  const tabOnly = h("input", { testid: `${prefix}-tab-only`, attrs: { type: "checkbox" } });
  const relayUrl = input({ testid: `${prefix}-relay-url`, value: defaultRelayUrl() });
  relayUrl.setAttribute("aria-label", "Relay URL");
  const element = h(
    "div",
    { class: "common" },
    h(
      "label",
      { class: "check" },
      tabOnly,
      " Don't save: keep in memory only, until the browser closes ",
      h("small", {
        class: "hint",
        text: "(forgotten when the tab closes; otherwise saved in this browser)",
      }),
    ),
    h(
      "details",
      { class: "advanced" },
      h("summary", { text: "Advanced" }),
      field("Relay URL", relayUrl, "The WebSocket relay that carries this network's packets."),
    ),
  );
  return {
    element,
    options: (name: string) => ({
      name,
      relayUrl: relayUrl.value.trim() || defaultRelayUrl(),
      persist: !tabOnly.checked,
    }),
  };
}

function errorLine(testid: string): HTMLElement & { show(error: unknown): void } {
  const el = h("p", { class: "form-error", testid, attrs: { role: "alert" } });
  el.hidden = true;
  return Object.assign(el, {
    show(error: unknown) {
      el.textContent = error === null ? "" : errorText(error);
      el.hidden = error === null;
    },
  });
}

function submitting(
  form: HTMLFormElement,
  submit: HTMLButtonElement,
  work: () => Promise<void>,
): void {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    submit.disabled = true;
    work().finally(() => {
      submit.disabled = false;
    });
  });
}

function importForm(engine: Engine, onCreated: (network: NetworkSummary) => void): HTMLElement {
  const name = input({ testid: "config-name", placeholder: "home-lab" });
  const text = h("textarea", {
    testid: "config-text",
    attrs: {
      rows: "12",
      spellcheck: "false",
      placeholder:
        "[Interface]\nPrivateKey = …\nAddress = 100.64.0.5/32\n\n[Peer]\nPublicKey = …\nAllowedIPs = 100.64.0.0/24\nEndpoint = 203.0.113.7:51820",
    },
  });
  const file = h("input", {
    testid: "config-file",
    attrs: { type: "file", accept: ".conf,text/plain" },
  });
  file.addEventListener("change", () => {
    const chosen = file.files?.[0];
    if (!chosen) return;
    void chosen.text().then((content) => {
      text.value = content;
      if (!name.value.trim()) name.value = chosen.name.replace(/\.conf$/i, "");
    });
  });
  const common = commonFields("config");
  const error = errorLine("import-error");
  const submit = h("button", {
    class: "primary",
    testid: "import-submit",
    text: "Import network",
    attrs: { type: "submit" },
  });
  const form = h(
    "form",
    { class: "card", testid: "import-form" },
    field("Name", name),
    field("WireGuard config (wg-quick format)", text, "Paste it, or read it from a file:"),
    file,
    common.element,
    error,
    h("div", { class: "actions" }, submit),
  );
  submitting(form, submit, async () => {
    error.show(null);
    const networkName = name.value.trim();
    if (!networkName) return error.show(new Error("Give the network a name."));
    if (!text.value.trim()) return error.show(new Error("Paste a config or choose a file."));
    try {
      const network = await engine.importNetwork(text.value, common.options(networkName));
      text.value = "";
      onCreated(network);
    } catch (err) {
      error.show(err);
    }
  });
  return form;
}

function generateForm(engine: Engine, onCreated: (network: NetworkSummary) => void): HTMLElement {
  let publicKey = "";
  const error = errorLine("create-error");
  const keyOut = h("code", { class: "mono key-out", testid: "generated-public-key" });
  const peerBlock = h("pre", { class: "peer-block", testid: "peer-block" });
  // The same peer as one command on the running interface (wg(8)), for a host whose config
  // file is not at hand; it lasts until the interface restarts unless the file gets it too.
  const wgSetLine = h("code", { class: "mono wg-set-line", testid: "wg-set-line" });
  const copyWgSet: HTMLButtonElement = button(
    "Copy command",
    () => void copyText(wgSetLine.textContent ?? "").then((ok) => flashCopied(copyWgSet, ok)),
    { class: "small", testid: "copy-wg-set" },
  );
  const copyKey: HTMLButtonElement = button(
    "Copy key",
    () => void copyText(publicKey).then((ok) => flashCopied(copyKey, ok)),
    {
      class: "small",
    },
  );
  const copyBlock: HTMLButtonElement = button(
    "Copy [Peer] block",
    () => void copyText(peerBlock.textContent ?? "").then((ok) => flashCopied(copyBlock, ok)),
    { class: "small", testid: "copy-peer-block" },
  );

  const name = input({ testid: "create-name", placeholder: "home-lab" });
  const address = input({ testid: "tunnel-address", placeholder: "100.64.0.5" });
  const hostKey = input({
    testid: "peer-public-key",
    placeholder: "the host's public key (wg show wg0 public-key)",
  });
  const endpoint = input({ testid: "peer-endpoint", placeholder: "203.0.113.7:51820" });
  const allowedIps = input({ testid: "peer-allowed-ips", placeholder: "100.64.0.0/24" });
  const keepalive = input({ testid: "peer-keepalive", type: "number", value: "25" });
  keepalive.min = "0";
  keepalive.max = "65535";
  const common = commonFields("create");

  const renderPeerBlock = () => {
    const ip = stripPrefix(address.value);
    const allowed =
      ip && parseIp(ip) ? `${ip}${hostPrefix(ip)}` : "<this browser's tunnel address>/32";
    peerBlock.textContent = [
      "[Peer]",
      `# ${name.value.trim() || "Corridor browser"}`,
      `PublicKey = ${publicKey}`,
      `AllowedIPs = ${allowed}`,
    ].join("\n");
    wgSetLine.textContent = `wg set wg0 peer ${publicKey} allowed-ips ${allowed}`;
  };
  address.addEventListener("input", renderPeerBlock);
  name.addEventListener("input", renderPeerBlock);

  const submit = h("button", {
    class: "primary",
    testid: "create-submit",
    text: "Create network",
    attrs: { type: "submit" },
  });
  const form = h(
    "form",
    { class: "card", testid: "create-form" },
    h("h2", { text: "2. Describe the WireGuard host" }),
    h(
      "div",
      { class: "grid-2" },
      field("Network name", name),
      field(
        "This browser's tunnel address",
        address,
        "Fills AllowedIPs in the [Peer] block above.",
      ),
      field("Host's public key", hostKey),
      field(
        "Host endpoint (optional)",
        endpoint,
        "ip:port of the host's WireGuard UDP port, via the relay's UDP bridge.",
      ),
      field("Allowed IPs", allowedIps, "Comma-separated: what to route to the host."),
      field("Persistent keepalive (s)", keepalive, "0 turns it off."),
    ),
    common.element,
    error,
    h("div", { class: "actions" }, submit),
  );
  submitting(form, submit, async () => {
    error.show(null);
    try {
      const networkName = name.value.trim();
      if (!networkName) throw new Error("Give the network a name.");
      const addressText = address.value.trim();
      const ip = stripPrefix(addressText);
      if (!parseIp(ip)) throw new Error("The tunnel address is not an IP address.");
      const key = hostKey.value.trim();
      if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(key)) {
        throw new Error(
          "The host's public key is 44 characters of base64 (from `wg show wg0 public-key`).",
        );
      }
      const allowed = allowedIps.value
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      if (allowed.length === 0) throw new Error("List the allowed IPs to route to the host.");
      const keepaliveSeconds = Number(keepalive.value || "0");
      if (!Number.isInteger(keepaliveSeconds) || keepaliveSeconds < 0 || keepaliveSeconds > 65535) {
        throw new Error("Persistent keepalive is a number of seconds from 0 to 65535.");
      }
      const endpointText = endpoint.value.trim();
      const network = await engine.createNetwork({
        ...common.options(networkName),
        publicKey,
        addresses: [addressText.includes("/") ? addressText : `${ip}${hostPrefix(ip)}`],
        peer: {
          publicKey: key,
          allowedIps: allowed,
          ...(endpointText ? { endpoint: endpointText } : {}),
          ...(keepaliveSeconds > 0 ? { persistentKeepalive: keepaliveSeconds } : {}),
        },
      });
      onCreated(network);
    } catch (err) {
      error.show(err);
    }
  });

  const keyCard = h(
    "div",
    { class: "card generated", testid: "generated-key" },
    h("h2", { text: "1. Add this browser to the host" }),
    h("p", {}, "This browser's public key: ", keyOut, " ", copyKey),
    h(
      "p",
      { class: "muted" },
      "Add this block to the host's WireGuard config (e.g. /etc/wireguard/wg0.conf) and reload it with ",
      h("code", { text: "wg syncconf wg0 <(wg-quick strip wg0)" }),
      ":",
    ),
    peerBlock,
    h("div", { class: "actions" }, copyBlock),
    h(
      "p",
      { class: "muted" },
      "Or add it to the running interface at once (until it restarts; keep the block in the file too):",
    ),
    h("pre", { class: "peer-block" }, wgSetLine),
    h("div", { class: "actions" }, copyWgSet),
  );
  keyCard.hidden = true;
  form.hidden = true;

  const generateError = errorLine("generate-error");
  const generate: HTMLButtonElement = button(
    "Generate a key",
    () => {
      generate.disabled = true;
      generateError.show(null);
      engine
        .generateNetworkKey()
        .then((key) => {
          publicKey = key;
          keyOut.textContent = key;
          renderPeerBlock();
          keyCard.hidden = false;
          form.hidden = false;
          intro.hidden = true;
          address.focus();
        })
        .catch((err: unknown) => generateError.show(err))
        .finally(() => {
          generate.disabled = false;
        });
    },
    { class: "primary", testid: "generate-network-key" },
  );
  const intro = h(
    "div",
    { class: "card" },
    h(
      "p",
      {},
      "The engine makes a new WireGuard key pair for this browser. You add its public key to your " +
        "WireGuard host as a peer, then tell this page how to reach the host.",
    ),
    generateError,
    h("div", { class: "actions" }, generate),
  );
  return h("div", { class: "generate-panel", testid: "generate-panel" }, intro, keyCard, form);
}
