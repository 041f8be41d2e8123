// A host's web services (issue 16 item 5): the ports the person added (the map announces no
// services yet), each with an "Open" action that opens the service's app origin in a new tab
// (`http://web-01--3000.corridor.localhost:8080/`, web/shell/app-links.ts), and a way to add and
// remove them. A page at 127.0.0.1 cannot host private URLs (not same-site with the app
// origins): there Open explains it and links to the same route at corridor.localhost.

import { button, errorText, field, h, input, replace } from "../dom.ts";
import { type AppsPlace, appUrl } from "../shell/app-links.ts";
import {
  addHostService,
  hostServices,
  MAX_SERVICE_NAME,
  removeHostService,
  type WebService,
} from "../shell/services-store.ts";

/** What the services section needs. */
export interface HostServicesOptions {
  /** The network the host is on ("mesh" for the mesh); services are kept per network. */
  networkId: string;
  /** The host as a private URL names it: a mesh name or an address. */
  host: string;
  /** Where private services open for this page (appsPlace). */
  place: AppsPlace;
  /** Opens a URL in a new tab (default: window.open without an opener). */
  open?: (url: string) => void;
}

function openInNewTab(url: string): void {
  // No opener: the app's page must not reach (or navigate) Corridor's tab.
  window.open(url, "_blank", "noopener,noreferrer");
}

/** The "Web services" section of a host's page. */
export class HostServicesView {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly explain: HTMLElement;
  private readonly formError: HTMLElement;
  private readonly portInput: HTMLInputElement;
  private readonly nameInput: HTMLInputElement;
  private readonly open: (url: string) => void;

  constructor(private readonly options: HostServicesOptions) {
    this.open = options.open ?? openInNewTab;
    this.list = h("ul", { class: "clipboard-grants", testid: "services-list" });
    this.explain = h("div", { testid: "services-explain" });
    this.formError = h("p", { class: "form-error", testid: "service-error" });
    this.formError.hidden = true;
    this.portInput = input({ testid: "service-port", type: "number", placeholder: "3000" });
    this.portInput.min = "1";
    this.portInput.max = "65535";
    this.portInput.inputMode = "numeric";
    this.nameInput = input({ testid: "service-name", placeholder: "Jupyter" });
    this.nameInput.maxLength = MAX_SERVICE_NAME;
    const form = h(
      "form",
      {
        class: "row",
        testid: "service-form",
        // The port is checked here, with a sentence; the browser's bubble would say less.
        attrs: { novalidate: "" },
        on: { submit: (e) => this.onAdd(e) },
      },
      h(
        "label",
        { class: "field narrow" },
        h("span", { class: "field-label", text: "Port" }),
        this.portInput,
      ),
      field("Name (optional)", this.nameInput),
      h("button", { text: "Add service", testid: "service-add", attrs: { type: "submit" } }),
    );
    this.element = h(
      "section",
      { class: "subsection", testid: "host-services", attrs: { "aria-label": "Web services" } },
      h("h2", { text: "Web services" }),
      h("p", {
        class: "muted",
        text:
          `Web apps on ${options.host} (HTTP): each opens in a tab of its own, every request carried ` +
          "through the mesh by this browser. Add the ports this host serves; they are kept in this browser.",
      }),
      this.list,
      this.explain,
      h("div", { class: "advanced" }, form),
      this.formError,
    );
    this.render(hostServices(options.networkId, options.host));
  }

  private onAdd(event: SubmitEvent): void {
    event.preventDefault();
    const text = this.portInput.value.trim();
    const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : Number.NaN;
    try {
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new Error(`port ${JSON.stringify(text)}: a whole number from 1 to 65535`);
      }
      const services = addHostService(this.options.networkId, this.options.host, {
        port,
        name: this.nameInput.value,
      });
      this.formError.hidden = true;
      this.portInput.value = "";
      this.nameInput.value = "";
      this.render(services);
    } catch (error) {
      this.formError.textContent = errorText(error);
      this.formError.hidden = false;
    }
  }

  private render(services: WebService[]): void {
    if (services.length === 0) {
      replace(
        this.list,
        h("li", {
          class: "muted",
          testid: "services-empty",
          text: "No web services yet: the mesh's map announces none, so add the port of an app this host serves (e.g. 3000 or 8888).",
        }),
      );
      return;
    }
    replace(this.list, ...services.map((service) => this.row(service)));
  }

  private row(service: WebService): HTMLElement {
    const { host } = this.options;
    const title =
      service.name === "" ? `port ${service.port}` : `${service.name} · port ${service.port}`;
    const { target, onOpen } = this.targetOf(service.port);
    const openButton = button("Open", () => onOpen(), {
      class: "primary small",
      testid: "service-open",
    });
    const remove = button(
      "Remove",
      () => this.render(removeHostService(this.options.networkId, host, service.port)),
      {
        class: "ghost small",
        testid: "service-remove",
        attrs: { "aria-label": `Remove ${title}` },
      },
    );
    return h(
      "li",
      { class: "clipboard-grant", testid: "service", data: { port: String(service.port) } },
      h("span", {}, h("strong", { text: title }), h("br"), target),
      h("span", { class: "actions" }, openButton, remove),
    );
  }

  /** The service's app URL shown (or why there is none) and what Open does. */
  private targetOf(port: number): { target: HTMLElement; onOpen: () => void } {
    const { host, place } = this.options;
    if (place.kind !== "apps") {
      return {
        target: h("span", { class: "muted mono", text: `http://${host}:${port}` }),
        onOpen: () => this.showPlace(place, port),
      };
    }
    let href: string;
    try {
      href = appUrl(place, host, port);
    } catch (error) {
      const why = errorText(error);
      return {
        target: h("span", { class: "error-text", testid: "service-label-error", text: why }),
        onOpen: () => this.showExplain(why, null),
      };
    }
    // A narrow screen breaks the URL after the label, not inside its "--".
    const dot = href.indexOf(".");
    const link = h(
      "a",
      {
        class: "mono",
        testid: "service-link",
        attrs: { href, target: "_blank", rel: "noopener noreferrer" },
      },
      href.slice(0, dot + 1),
      h("wbr"),
      href.slice(dot + 1),
    );
    return { target: link, onOpen: () => this.open(href) };
  }

  private showPlace(place: Exclude<AppsPlace, { kind: "apps" }>, port: number): void {
    if (place.kind === "none") {
      this.showExplain(place.reason, null);
      return;
    }
    const page = new URL(place.pageUrl);
    let example = `an origin under ${page.hostname}`;
    try {
      const there: Extract<AppsPlace, { kind: "apps" }> = {
        kind: "apps",
        scheme: page.protocol,
        domain: page.hostname,
        port: page.port,
      };
      example = `its own origin, ${appUrl(there, this.options.host, port)}`;
    } catch {
      // no label for this host: the general sentence
    }
    this.showExplain(
      `Private URLs need this page at ${page.host}: this service opens at ${example}, which ` +
        `shares its site with ${page.hostname} but not with this address, so the app could not ` +
        "reach this browser's engine from here. Networks, keys and the sign-in are kept per " +
        "address: sign in there, and import your WireGuard networks there too.",
      place.pageUrl,
    );
  }

  private showExplain(text: string, link: string | null): void {
    replace(
      this.explain,
      h(
        "div",
        { class: "card notice", testid: "services-move", attrs: { role: "status" } },
        h("p", { text }),
        link === null
          ? null
          : h(
              "p",
              {},
              h("a", {
                testid: "services-move-link",
                text: `Open ${link}`,
                attrs: { href: link },
              }),
            ),
      ),
    );
  }
}
