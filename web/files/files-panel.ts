// The files panel of one SSH session (SFTP on the session's connection, through the engine's
// files calls): breadcrumbs and a directory listing, upload by picker (files or a folder) and by
// dropping several files and folders, download, rename, delete, new folder, and a list of
// transfers with progress, speed and cancel. Loaded lazily (web/files/files-button.ts).

import type { FileEntry } from "../../worker/api.ts";
import { openDialog } from "../dialogs/dialog.ts";
import { button, errorText, field, h, input, replace } from "../dom.ts";
import type { Engine } from "../engine.ts";
import { bytes } from "../format.ts";
import { downloadFile } from "./downloads.ts";
import { type DropPlan, planDrop, planPicked } from "./drop.ts";
import { TransferList } from "./transfer-list.ts";
import { uploadFile } from "./uploads.ts";

function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

/** A name typed by the person: one path segment, no slash, not "." or "..". */
function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === "" || trimmed === "." || trimmed === ".." || trimmed.includes("/")) {
    throw new Error("a name without slashes, not empty, not . or ..");
  }
  return trimmed;
}

const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });

/** The files of one session, in a panel over its terminal. */
export class FilesPanel {
  readonly element: HTMLElement;
  /** Called when the person closes the panel. */
  onClose: () => void = () => undefined;
  private readonly crumbs: HTMLElement;
  private readonly list: HTMLElement;
  private readonly status: HTMLElement;
  private readonly transfers: TransferList;
  private path = "";
  private loaded = false;
  private generation = 0;

  constructor(
    private readonly engine: Engine,
    private readonly sessionId: string,
  ) {
    this.crumbs = h("nav", {
      class: "files-crumbs",
      testid: "files-crumbs",
      attrs: { "aria-label": "Path" },
    });
    this.list = h("div", { class: "files-list", testid: "files-list", attrs: { role: "list" } });
    this.status = h("p", {
      class: "files-status",
      testid: "files-status",
      attrs: { role: "status" },
    });
    this.transfers = new TransferList();
    const pickFiles = input({ type: "file", testid: "files-upload-input" });
    pickFiles.multiple = true;
    pickFiles.hidden = true;
    pickFiles.addEventListener("change", () => {
      if (pickFiles.files) void this.upload(planPicked(pickFiles.files));
      pickFiles.value = "";
    });
    const pickFolder = input({ type: "file", testid: "files-upload-folder-input" });
    pickFolder.webkitdirectory = true;
    pickFolder.hidden = true;
    pickFolder.addEventListener("change", () => {
      if (pickFolder.files) void this.upload(planPicked(pickFolder.files));
      pickFolder.value = "";
    });
    const tools = h(
      "div",
      { class: "files-tools" },
      button("↑", () => void this.go(parentOf(this.path)), {
        testid: "files-up",
        title: "Parent folder",
        attrs: { "aria-label": "Parent folder" },
      }),
      button("Refresh", () => void this.go(this.path), { testid: "files-refresh" }),
      button("New folder", () => void this.newFolder(), { testid: "files-mkdir" }),
      button("Upload files", () => pickFiles.click(), { testid: "files-upload" }),
      button("Upload folder", () => pickFolder.click(), { testid: "files-upload-folder" }),
      pickFiles,
      pickFolder,
      h("span", { class: "files-spacer" }),
      button("×", () => this.close(), {
        class: "files-close",
        testid: "files-close",
        attrs: { "aria-label": "Close files" },
      }),
    );
    this.element = h(
      "aside",
      {
        class: "files-panel",
        testid: "files-panel",
        attrs: { "aria-label": "Files of this session" },
        on: {
          dragover: (event) => {
            event.preventDefault();
            this.element.classList.add("drop-target");
          },
          dragleave: (event) => {
            if (event.target === this.element) this.element.classList.remove("drop-target");
          },
          drop: (event) => {
            event.preventDefault();
            this.element.classList.remove("drop-target");
            if (event.dataTransfer) {
              planDrop(event.dataTransfer).then(
                (plan) => this.upload(plan),
                (error: unknown) => this.say(`The drop could not be read: ${errorText(error)}`),
              );
            }
          },
        },
      },
      h("header", { class: "files-head" }, h("h2", { text: "Files" }), tools),
      this.crumbs,
      this.status,
      this.list,
      h("p", { class: "hint files-drop-hint", text: "Drop files or folders here to upload them." }),
      this.transfers.element,
    );
    this.element.hidden = true;
  }

  /** Whether the panel is shown. */
  get isOpen(): boolean {
    return !this.element.hidden;
  }

  /** Shows the panel; the first time it lists the login directory. */
  open(): void {
    this.element.hidden = false;
    if (!this.loaded) void this.go("");
  }

  /** Hides the panel (transfers keep running). */
  close(): void {
    this.element.hidden = true;
    this.onClose();
  }

  private say(text: string, isError = true): void {
    this.status.textContent = text;
    this.status.classList.toggle("form-error", isError && text !== "");
  }

  /** Lists `path` ("" = the login directory). */
  async go(path: string): Promise<void> {
    const generation = ++this.generation;
    this.say("Loading…", false);
    try {
      const listing = await this.engine.listFiles(this.sessionId, path);
      if (generation !== this.generation) return;
      this.loaded = true;
      this.path = listing.path;
      this.element.dataset.path = listing.path;
      this.renderCrumbs();
      replace(this.list, ...listing.entries.map((entry) => this.row(entry)));
      this.say(listing.entries.length === 0 ? "This folder is empty." : "", false);
    } catch (error) {
      if (generation === this.generation) this.say(errorText(error));
    }
  }

  private renderCrumbs(): void {
    const parts = this.path.split("/").filter((p) => p !== "");
    const crumbs: Node[] = [button("/", () => void this.go("/"), { class: "crumb" })];
    parts.forEach((part, i) => {
      const target = `/${parts.slice(0, i + 1).join("/")}`;
      // The root's crumb is the first slash already.
      if (i > 0) crumbs.push(h("span", { class: "crumb-sep", text: "/" }));
      crumbs.push(button(part, () => void this.go(target), { class: "crumb" }));
    });
    replace(this.crumbs, ...crumbs);
  }

  private row(entry: FileEntry): HTMLElement {
    const isDir = entry.type === "dir";
    const name = isDir
      ? button(`${entry.name}/`, () => void this.go(entry.path), { class: "file-name link" })
      : h("span", { class: "file-name", text: entry.name, title: entry.name });
    const meta = [
      isDir ? "" : entry.size === null ? "" : bytes(entry.size),
      entry.mtime === null ? "" : DATE.format(entry.mtime),
      entry.symlink ? "link" : "",
    ].filter((t) => t !== "");
    return h(
      "div",
      {
        class: `file-row ${isDir ? "dir" : "file"}`,
        testid: "file-row",
        data: { name: entry.name, type: entry.type },
        attrs: { role: "listitem" },
      },
      name,
      h("span", { class: "file-meta muted", text: meta.join(" · ") }),
      h(
        "span",
        { class: "file-actions" },
        entry.type === "file" || (entry.type === "other" && !isDir)
          ? button("Download", () => this.download(entry), { testid: "file-download" })
          : null,
        button("Rename", () => void this.rename(entry), { testid: "file-rename" }),
        button("Delete", () => void this.remove(entry), { class: "danger", testid: "file-delete" }),
      ),
    );
  }

  private download(entry: FileEntry): void {
    const item = this.transfers.add(`↓ ${entry.name}`, entry.size);
    const running = downloadFile(this.engine, this.sessionId, entry, (n) => item.progress(n));
    item.onCancel = () => running.cancel();
    void running.done.then((outcome) => item.finish(outcome));
  }

  private async upload(plan: DropPlan): Promise<void> {
    const base = this.path;
    try {
      for (const dir of plan.dirs) {
        await this.engine.makeDir(this.sessionId, joinPath(base, dir)).catch(async (error) => {
          // A folder that is already there is fine; anything else stops the upload.
          const existing = await this.engine
            .statFile(this.sessionId, joinPath(base, dir))
            .catch(() => null);
          if (existing?.type !== "dir") throw error;
        });
      }
    } catch (error) {
      this.say(errorText(error));
      return;
    }
    // One file at a time: each already keeps the tunnel full (64 SFTP writes in flight).
    for (const { path, file } of plan.files) {
      const item = this.transfers.add(`↑ ${path}`, file.size);
      const running = uploadFile(this.engine, this.sessionId, file, joinPath(base, path), (n) =>
        item.progress(n),
      );
      item.onCancel = () => running.cancel();
      const outcome = await running.done;
      item.finish(outcome);
      if (this.path === base) void this.go(base);
    }
  }

  private async newFolder(): Promise<void> {
    const name = input({ testid: "files-name-input", placeholder: "new-folder" });
    const made = await openDialog<boolean>({
      title: "New folder",
      body: [field(`In ${this.path}`, name)],
      submitLabel: "Create",
      testid: "files-mkdir-dialog",
      onSubmit: async () => {
        await this.engine.makeDir(this.sessionId, joinPath(this.path, checkName(name.value)));
        return true;
      },
    });
    if (made) await this.go(this.path);
  }

  private async rename(entry: FileEntry): Promise<void> {
    const name = input({ testid: "files-name-input", value: entry.name });
    const done = await openDialog<boolean>({
      title: `Rename ${entry.name}`,
      body: [field("New name", name)],
      submitLabel: "Rename",
      testid: "files-rename-dialog",
      onSubmit: async () => {
        const to = joinPath(parentOf(entry.path), checkName(name.value));
        await this.engine.renameFile(this.sessionId, entry.path, to);
        return true;
      },
    });
    if (done) await this.go(this.path);
  }

  private async remove(entry: FileEntry): Promise<void> {
    const isDir = entry.type === "dir" && !entry.symlink;
    const done = await openDialog<boolean>({
      title: `Delete ${entry.name}?`,
      body: [
        h(
          "p",
          {},
          isDir
            ? `The folder ${entry.path} and everything in it will be deleted on the host.`
            : `${entry.path} will be deleted on the host.`,
        ),
      ],
      submitLabel: "Delete",
      danger: true,
      testid: "files-delete-dialog",
      onSubmit: async () => {
        await this.engine.removeFile(this.sessionId, entry.path);
        return true;
      },
    });
    if (done) await this.go(this.path);
  }
}
