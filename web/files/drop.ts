// What a drop brings: files and whole folders (webkitGetAsEntry walks them), as the
// directories to create and the files to send, with paths relative to the drop target.

/** Directories (parents first) and files, with paths relative to where they were dropped. */
export interface DropPlan {
  dirs: string[];
  files: { path: string; file: File }[];
}

/** Entries of a dropped tree walked before giving up (a drop of a whole disk, say). */
const MAX_ENTRIES = 100_000;

function readBatch(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

/** Walks the items of a drop (DataTransfer.items) into a plan; plain files when no entries. */
export async function planDrop(data: DataTransfer): Promise<DropPlan> {
  const plan: DropPlan = { dirs: [], files: [] };
  // Entries must be taken synchronously, before the first await (the list empties after).
  const entries = [...data.items]
    .filter((item) => item.kind === "file")
    .map((item) => item.webkitGetAsEntry?.() ?? null);
  if (entries.length === 0 || entries.some((e) => e === null)) {
    for (const file of data.files) plan.files.push({ path: file.name, file });
    return plan;
  }
  let seen = 0;
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (++seen > MAX_ENTRIES) throw new Error(`the drop holds more than ${MAX_ENTRIES} entries`);
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isFile) {
      plan.files.push({ path, file: await fileOf(entry as FileSystemFileEntry) });
    } else if (entry.isDirectory) {
      plan.dirs.push(path);
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (let batch = await readBatch(reader); batch.length > 0; batch = await readBatch(reader)) {
        for (const child of batch) await walk(child, path);
      }
    }
  };
  for (const entry of entries) if (entry !== null) await walk(entry, "");
  return plan;
}

/** A plan from an <input type=file> (with webkitdirectory, files carry webkitRelativePath). */
export function planPicked(files: FileList): DropPlan {
  const plan: DropPlan = { dirs: [], files: [] };
  const dirs = new Set<string>();
  for (const file of files) {
    const path = file.webkitRelativePath || file.name;
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
    plan.files.push({ path, file });
  }
  plan.dirs = [...dirs].sort((a, b) => a.split("/").length - b.split("/").length);
  return plan;
}
