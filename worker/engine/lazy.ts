// The engine's lazy boundaries: what "Engine ready" does not need is fetched by the Worker
// with a dynamic import() on first use, so the first load stays small (issue 15 item 11,
// <= 150 KB gzip; test/e2e/weight.test.ts). One loader per boundary, each a cached promise:
// the SSH client (terminal sessions, known hosts), the SSH key ring (key parsing, bcrypt),
// files (SFTP), the mesh (control client, mesh node), the WireGuard device with the IP stack
// (the first startNetwork), and private URLs (the first app port). vite.config.ts preloads
// only the Worker's entry, not these.

/** `load` run once; its promise is kept (a failed load is retried on the next call). */
export function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | null = null;
  return () => {
    loaded ??= load().catch((error: unknown) => {
      loaded = null;
      throw error;
    });
    return loaded;
  };
}

/** Functions of T returning promises: the calls `lazyCalls` can forward. */
type AsyncCalls<T> = {
  [K in keyof T]: T[K] extends (...args: never[]) => Promise<unknown> ? K : never;
}[keyof T];

/**
 * The calls `names` of T, each waiting for `load()` and then calling the loaded object's
 * method of that name. `names` must list every call of T (the caller checks it with
 * `AllNamed`), so the page sees the same API before the module arrives.
 */
export function lazyCalls<T, K extends AsyncCalls<T>>(
  names: readonly K[],
  load: () => Promise<Pick<T, K>>,
): Pick<T, K> {
  const calls: Partial<Record<K, unknown>> = {};
  for (const name of names) {
    calls[name] = async (...args: unknown[]) => {
      const target = (await load()) as Record<K, (...a: unknown[]) => unknown>;
      return await target[name](...args);
    };
  }
  return calls as Pick<T, K>;
}

/** `true` when `Names` covers every key of T (a compile-time check of a `lazyCalls` list). */
export type AllNamed<T, Names> = [Exclude<keyof T, Names>] extends [never] ? true : never;

/** SSH terminal sessions: the SSH client, its key exchange, ciphers and user auth. */
export const loadSession = once(() => import("./session.ts"));

/** known_hosts parsing and matching (HMAC-SHA1 hashed names). */
export const loadKnownHosts = once(() => import("../ssh/known-hosts.ts"));

/** The SSH key ring: OpenSSH key parsing and generation, bcrypt-pbkdf, sealed keys. */
export const loadKeyRing = once(() => import("./ssh-keys.ts"));

/** Files on a session's connection (SFTP). */
export const loadFiles = once(() => import("./files.ts"));

/** The mesh: its runtime, the control client and the mesh's SSH sessions. */
export const loadMesh = once(() => import("./mesh-parts.ts"));

/** A running network: the WireGuard device, the relay client and the IP stack. */
export const loadNetworkRuntime = once(() => import("./network-runtime.ts"));

/** Private URLs: app ports, the HTTP and WebSocket clients, the cookie jar. */
export const loadApps = once(() => import("./app-parts.ts"));
