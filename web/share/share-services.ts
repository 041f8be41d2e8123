// "Open" for each web service a share offers: its private URL (`http://<label>.<apps domain>/`,
// label from the device's mesh name and the port, web/shell/app-links.ts), opened in a tab of
// its own without an opener. Where this page cannot host private URLs, a sentence says why.

import { button, h } from "../dom.ts";
import { type AppsPlace, appUrl } from "../shell/app-links.ts";

/** What the buttons need. */
export interface ShareServicesOptions {
  device: string;
  ports: number[];
  place: AppsPlace;
  /** Opens a URL in a new tab; false when the browser blocked it (default: window.open). */
  open?: (url: string) => boolean;
}

function openInNewTab(url: string): boolean {
  // noopener: the app's page must not reach (or navigate) this tab. window.open answers null
  // with noopener whether or not it opened, so a blocked pop-up cannot be told apart here.
  window.open(url, "_blank", "noopener,noreferrer");
  return true;
}

/** The shared web services' Open buttons (or why they cannot open here). */
export class ShareServices {
  readonly element: HTMLElement;
  /** Why the services cannot open from this page (empty and hidden when they can). */
  readonly why: HTMLElement;
  private readonly urls: string[] = [];
  private readonly open: (url: string) => boolean;

  constructor(options: ShareServicesOptions) {
    this.open = options.open ?? openInNewTab;
    const { place, device, ports } = options;
    this.why = h("span", { class: "muted small-text", testid: "share-services-none" });
    this.why.hidden = true;
    this.element = h("span", { class: "share-services", testid: "share-services" }, this.why);
    if (ports.length === 0) return;
    if (place.kind !== "apps") {
      const why =
        place.kind === "move"
          ? "Web services open only when this page is at corridor.localhost (a link made by a page there points there); this page is at another address."
          : place.reason;
      this.why.textContent = why;
      this.why.hidden = false;
      return;
    }
    for (const port of ports) {
      let url: string;
      try {
        url = appUrl(place, device, port);
      } catch (error) {
        this.element.append(
          h("span", {
            class: "muted",
            text: `port ${port}: ${error instanceof Error ? error.message : String(error)}`,
          }),
        );
        continue;
      }
      this.urls.push(url);
      this.element.append(
        button(`Open :${port}`, () => this.open(url), {
          class: "primary small",
          testid: "share-open",
          title: url,
          data: { port: String(port) },
        }),
      );
    }
  }

  /** Whether any service has an Open button here. */
  get openable(): boolean {
    return this.urls.length > 0;
  }

  /** Opens the first service at once (after Accept; a browser may block it: Open stays). */
  openFirst(): void {
    const first = this.urls[0];
    if (first !== undefined) this.open(first);
  }
}
