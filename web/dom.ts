// A tiny element builder: the views are plain DOM, no framework (a few views do not pay for
// one). Text always goes in as text nodes, never as HTML, and styles only through classes
// (the page's CSP forbids inline style attributes).

export type Child = Node | string | null | undefined | false;

export interface Props {
  class?: string;
  testid?: string;
  text?: string;
  title?: string;
  attrs?: Record<string, string>;
  data?: Record<string, string>;
  on?: { [E in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[E]) => void };
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.testid) el.dataset.testid = props.testid;
  if (props.title) el.title = props.title;
  if (props.text !== undefined) el.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) el.setAttribute(name, value);
  for (const [name, value] of Object.entries(props.data ?? {})) el.dataset[name] = value;
  for (const [type, listener] of Object.entries(props.on ?? {})) {
    el.addEventListener(type, listener as EventListener);
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

/** Replaces all children of `parent`. */
export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, ...children);
}

/** A button (type="button", so it never submits a form by accident). */
export function button(
  label: string | Node,
  onClick: (event: MouseEvent) => void,
  props: Omit<Props, "on"> = {},
): HTMLButtonElement {
  const b = h("button", { ...props, attrs: { type: "button", ...props.attrs } }, label);
  b.addEventListener("click", onClick);
  return b;
}

/** A labelled form field: <label><span>text</span>control<small>hint</small></label>. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLLabelElement {
  return h(
    "label",
    { class: "field" },
    h("span", { class: "field-label", text: label }),
    control,
    hint ? h("small", { class: "hint", text: hint }) : null,
  );
}

export function input(props: Props & { type?: string; value?: string; placeholder?: string }) {
  const el = h("input", props);
  el.type = props.type ?? "text";
  if (props.value !== undefined) el.value = props.value;
  if (props.placeholder) el.placeholder = props.placeholder;
  el.autocomplete = "off";
  el.spellcheck = false;
  return el;
}

/** The message of an error from the engine (comlink keeps an Error's message). */
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null && "message" in error) {
    return String((error as { message: unknown }).message);
  }
  return String(error);
}
