// xterm.js writes some of its CSS into <style> elements (scrollbar colors; the DOM renderer's
// theme and cell sizes) and a few inline `style` attributes (true-color cells of the DOM
// renderer). The page's CSP (style-src 'self', no 'unsafe-inline') blocks both, and Chromium
// reports a violation for every <style> element connected, even an empty one. This shim,
// installed before the first terminal is created, routes them through the CSSOM, which CSP
// does not restrict:
//   - document.createElement("style") gives an inert, hidden <corridor-style> element instead;
//     the text written to it goes into a constructed stylesheet adopted by the document, and
//     leaves with the element's remove();
//   - setAttribute("style", text) on an HTML element becomes element.style.cssText = text.
// The page's own code creates neither <style> elements nor style attributes.

let installed = false;

export function installCspStyleShim(): void {
  if (
    installed ||
    typeof CSSStyleSheet === "undefined" ||
    !("adoptedStyleSheets" in Document.prototype)
  ) {
    return;
  }
  installed = true;

  const createElement = Document.prototype.createElement;
  Document.prototype.createElement = function (
    this: Document,
    tagName: string,
    options?: ElementCreationOptions,
  ): HTMLElement {
    if (tagName.toLowerCase() !== "style") return createElement.call(this, tagName, options);
    return adoptedStyleElement(this, createElement.call(this, "corridor-style"));
  } as typeof Document.prototype.createElement;

  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (this: Element, name: string, value: string): void {
    if (name.toLowerCase() === "style" && this instanceof HTMLElement) {
      this.style.cssText = value;
      return;
    }
    setAttribute.call(this, name, value);
  };
}

function adoptedStyleElement(doc: Document, el: HTMLElement): HTMLElement {
  el.hidden = true;
  let sheet: CSSStyleSheet | undefined;
  let text = "";
  Object.defineProperty(el, "textContent", {
    configurable: true,
    get: () => text,
    set: (value: string | null) => {
      text = value ?? "";
      if (!sheet) {
        sheet = new CSSStyleSheet();
        doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
      }
      sheet.replaceSync(text);
    },
  });
  const remove = el.remove.bind(el);
  el.remove = () => {
    if (sheet) {
      const gone = sheet;
      doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => s !== gone);
      sheet = undefined;
    }
    remove();
  };
  return el;
}
