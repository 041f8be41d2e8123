// A snapshot of the built page (Vite's dist/): every file under the web root read into memory
// with its content type, ETag and precomputed gzip and brotli bodies. Serving from a map of
// the files that were found, rather than joining request paths onto the root, is what makes
// path traversal impossible: a request can only name a key of the map. The page is small (tens
// of kilobytes), so holding it in memory is cheap, and compressing once beats per request.

import { createHash } from "node:crypto";
import { type Dirent, promises as fs } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { brotliCompress, gzip, constants as zlib } from "node:zlib";
import { contentTypeOf, isCompressible } from "./headers.ts";

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

/** One representation of a file: its bytes and its (strong) ETag. */
export interface Representation {
  body: Buffer;
  etag: string;
}

/** A file of the page, ready to serve. */
export interface SiteFile {
  /** The URL path, e.g. "/assets/index-abc123.js". */
  path: string;
  contentType: string;
  /** Vite's content-hashed files under /assets/: cacheable for a year, never revalidated. */
  immutable: boolean;
  identity: Representation;
  /** Present only when the type is compressible and compression made it smaller. */
  gzip?: Representation;
  br?: Representation;
}

/** What identifies index.html on disk; a change means the page was rebuilt. */
export interface FileStamp {
  mtimeMs: number;
  size: number;
  ino: number;
}

/** The loaded page. */
export interface Site {
  root: string;
  files: ReadonlyMap<string, SiteFile>;
  /** index.html's stamp when it was read. */
  index: FileStamp;
}

/** The directory depth walked; Vite's output is two levels deep. */
const MAX_DEPTH = 16;

/**
 * The files to serve under `dir`: regular files only. Dot files are left out (no .git or
 * .env by accident), and so are symbolic links, which could point outside the root.
 */
async function walk(dir: string, prefix: string, depth: number, out: string[]): Promise<void> {
  if (depth > MAX_DEPTH) return;
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (depth === 0) throw error;
    return; // a folder removed while we walk (a rebuild): skip it
  }
  for (const entry of entries) {
    if (entry.name.startsWith(".")) continue;
    const path = `${prefix}/${entry.name}`;
    if (entry.isDirectory()) await walk(join(dir, entry.name), path, depth + 1, out);
    else if (entry.isFile()) out.push(path);
  }
}

function etagOf(body: Buffer, suffix: string): string {
  const hash = createHash("sha256").update(body).digest("base64url").slice(0, 22);
  return `"${hash}${suffix}"`;
}

async function loadFile(root: string, path: string): Promise<SiteFile | undefined> {
  let body: Buffer;
  try {
    body = await fs.readFile(join(root, ...path.split("/")));
  } catch {
    return undefined; // removed since the walk
  }
  const contentType = contentTypeOf(path);
  const identity = { body, etag: etagOf(body, "") };
  const file: SiteFile = {
    path,
    contentType,
    immutable: path.startsWith("/assets/"),
    identity,
  };
  if (isCompressible(contentType) && body.length > 0) {
    const [gz, br] = await Promise.all([
      gzipAsync(body, { level: 9 }),
      brotliAsync(body, {
        params: {
          [zlib.BROTLI_PARAM_QUALITY]: 11,
          [zlib.BROTLI_PARAM_SIZE_HINT]: body.length,
        },
      }),
    ]);
    // The suffixes keep each representation's ETag distinct, as strong ETags must be.
    if (gz.length < body.length) file.gzip = { body: gz, etag: etagOf(body, ".gz") };
    if (br.length < body.length) file.br = { body: br, etag: etagOf(body, ".br") };
  }
  return file;
}

/** index.html's stamp, or undefined when it cannot be read. */
export async function indexStamp(root: string): Promise<FileStamp | undefined> {
  try {
    const s = await fs.stat(join(root, "index.html"));
    return s.isFile() ? { mtimeMs: s.mtimeMs, size: s.size, ino: s.ino } : undefined;
  } catch {
    return undefined;
  }
}

/** Whether two stamps name the same version of a file. */
export function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino;
}

/**
 * Reads the page under `root` (resolved through symbolic links first, so the root itself may
 * be one). Throws when `root` is not a directory or holds no index.html.
 */
export async function loadSite(root: string): Promise<Site> {
  const real = await fs.realpath(root);
  if (!(await fs.stat(real)).isDirectory()) throw new Error(`${root} is not a directory`);
  const index = await indexStamp(real);
  if (index === undefined) throw new Error(`${root} holds no index.html (build the page first)`);
  const paths: string[] = [];
  await walk(real, "", 0, paths);
  const files = new Map<string, SiteFile>();
  for (const file of await Promise.all(paths.map((p) => loadFile(real, p)))) {
    if (file !== undefined) files.set(file.path, file);
  }
  return { root: real, files, index };
}
