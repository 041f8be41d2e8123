// Links in the terminal (OSC 8 hyperlinks and URLs in the output): hovering shows the real
// target in a bar over the terminal, a click asks before anything opens, and what opens is a
// new tab with neither opener nor referrer. Only http and https (link-target.ts).

import { openDialog } from "../dialogs/dialog.ts";
import { h, replace } from "../dom.ts";
import { linkTarget } from "./link-target.ts";

export interface LinkOpener {
  /** The hover bar that shows a link's target; placed over the terminal. */
  readonly element: HTMLElement;
  activate(uri: string): void;
  hover(uri: string): void;
  leave(): void;
}

/** The link behaviour of one terminal; `label` names the session in the dialog. */
export function createLinkOpener(label: string, refocus: () => void): LinkOpener {
  const element = h("div", { class: "link-preview", testid: "link-preview" });
  element.hidden = true;
  return {
    element,
    hover(uri) {
      const target = linkTarget(uri);
      if (!target) return;
      replace(element, target.href);
      element.hidden = false;
    },
    leave() {
      element.hidden = true;
      replace(element);
    },
    activate(uri) {
      const target = linkTarget(uri);
      if (!target) return;
      void openDialog({
        title: "Open this link?",
        testid: "link-dialog",
        submitLabel: "Open in a new tab",
        submitTestid: "link-open",
        body: [
          h(
            "p",
            {},
            `A program on ${label} printed a link to `,
            h("strong", { text: target.host }),
          ),
          h("p", { class: "link-href", testid: "link-href", text: target.href }),
          target.hasCredentials
            ? h("p", {
                class: "form-error",
                text: "The link carries a user name: the site is the one after the @.",
              })
            : null,
        ],
        onSubmit: () => {
          window.open(target.href, "_blank", "noopener,noreferrer");
          return true;
        },
      }).then(() => refocus());
    },
  };
}
