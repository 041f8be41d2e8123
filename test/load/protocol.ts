// The load rig's IPC between the parent (a benchmark or a test) and its child processes: the
// control server (control-server.ts) and the simulated-node workers (sim-worker.ts). Every
// request carries an id and gets exactly one reply with that id. Times that cross processes are
// epoch milliseconds with sub-millisecond precision (`epochNow`): every process on the machine
// reads the same system clock, so a send time taken in one worker and a receive time taken in
// another are comparable.

import type { RelayInfo } from "../../worker/control/types.ts";

/** Epoch milliseconds with sub-millisecond precision, comparable across processes. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

// ---- the control server child ----

/** argv[2] of control-server.ts (JSON). */
export interface ControlServerSetup {
  /** Member users to create, each with a reusable auth key (their nodes belong to them). */
  users: number;
  /** The policy document stored before the map side starts. */
  policy: string;
  /** Tags of the extra reusable auth key made by the owner (empty: none). */
  tagKey: string[];
  /** Where to put the SQLite file's temp dir (default: os.tmpdir()). */
  tmpRoot?: string;
  /**
   * postgres://... instead of a SQLite file: several children on one database are a cluster
   * (server/control/cluster/, on by default for PostgreSQL).
   */
  databaseUrl?: string;
  /** This server's id in the cluster (default: random). */
  serverId?: string;
  /**
   * Whether this child creates the users, keys and policy (default true). On a shared database
   * only the first does; the others answer with empty keys and serve what it stored.
   */
  seed?: boolean;
  /** The map streams' keepalive period (default: the server's, 50 s); keepalives carry cursors. */
  keepaliveMs?: number;
  /** Cluster heartbeat and catch-up periods (default: the server's, 5 s and 1 s). */
  heartbeatMs?: number;
  pollMs?: number;
  /** The relays the maps list (default: one placeholder relay nobody runs). */
  relays?: RelayInfo[];
  /**
   * The mesh's Ed25519 token signing key (base64 seed) the seeding child stores before the map
   * side starts, so that relays started first can verify its tokens (default: a random one).
   */
  tokenSigningKey?: string;
}

/** The server child's first message, once it listens. */
export interface ControlServerReady {
  type: "ready";
  /** ws://127.0.0.1:PORT/control */
  controlUrl: string;
  /** http://127.0.0.1:PORT (the API is under /api/v1/) */
  httpUrl: string;
  /** The owner's API key (Bearer), for PUT /api/v1/policy. */
  apiKey: string;
  /** One reusable auth key per member user, in creation order. */
  userKeys: string[];
  /** The owner's reusable key with `tagKey` tags ("" when none was asked for). */
  tagKey: string;
  /** The server's temp folder, the SQLite database's (removed when the child exits). */
  dataDir: string;
  pid: number;
}

/** Requests the server child answers. */
export type ControlServerRequest =
  | { id: number; op: "rss" }
  | { id: number; op: "stats" }
  | { id: number; op: "db" }
  | { id: number; op: "exit" };

/** The server's database calls so far, by store operation (its instrumented store's tally). */
export type DbTally = Record<string, { calls: number; seconds: number; errors: number }>;

/** Replies of the server child. */
export type ControlServerReply =
  | { id: number; ok: true; op: "rss"; rss: number; heapUsed: number }
  | { id: number; ok: true; op: "stats"; attached: number; connections: number }
  | { id: number; ok: true; op: "db"; ops: DbTally }
  | { id: number; ok: true; op: "exit" }
  | { id: number; ok: false; error: string };

// ---- the relay children ----

/** argv[2] of relay-server.ts (JSON). */
export interface RelayServerSetup {
  relayId: string;
  /** The control servers' token public key (Ed25519, base64): the relay's "token" auth. */
  controlPublicKey: string;
}

/** The relay child's first message, once it listens. */
export interface RelayServerReady {
  type: "ready";
  /** ws://127.0.0.1:PORT/relay */
  url: string;
  /** The relay's static X25519 public key (base64), as the maps list it. */
  key: string;
  pid: number;
}

/** Requests the relay child answers. */
export type RelayServerRequest = { id: number; op: "rss" } | { id: number; op: "exit" };

/** Replies of the relay child. */
export type RelayServerReply =
  | { id: number; ok: true; op: "rss"; rss: number; heapUsed: number; clients: number }
  | { id: number; ok: true; op: "exit" }
  | { id: number; ok: false; error: string };

/** A pair whose packets cross a relay: `sender` sends to `receiver` (both node indexes). */
export interface RelayPair {
  sender: number;
  receiver: number;
  /** The receiver's id on the control server (the sender finds it in its map). */
  receiverId: number;
}

/** What a worker's relay sample came to. */
export interface RelaySample {
  /** Round trips, ms, over every pair's pings. */
  rtts: number[];
  /** Per pair's burst: packets and bytes the receiver counted, and the burst's time (ms). */
  bursts: { packets: number; bytes: number; ms: number }[];
  /** When this worker's bursts started and when the last ended (epoch ms). */
  burstStart: number;
  burstEnd: number;
  /** Pairs whose sender went through another relay than its own home. */
  crossed: number;
  /** Connection failures and lost packets. */
  problems: string[];
}

// ---- the simulated-node workers ----

/** A node the worker should create and join. */
export interface NodeSpec {
  /** The node's index in the whole run (unique across workers). */
  index: number;
  authKey: string;
  hostname: string;
}

/** What one node's join came to. */
export interface JoinResult {
  index: number;
  /** The node's id on the control server. */
  id: number;
  /** When the connection was opened and when the full map was applied (epoch ms). */
  startedAt: number;
  mappedAt: number;
  /** Size of the full map message (bytes of UTF-8) and its peer count. */
  mapBytes: number;
  peers: number;
}

/** What a watch waits for in every node of a worker that should see it. */
export type WatchSpec =
  /** A patch or upsert of peer `peerId` after which its endpoints equal `endpoints`. */
  | { kind: "endpoints"; peerId: number; endpoints: string[] }
  /** A change of peer `peerId` after which its `online` equals `online`. */
  | { kind: "online"; peerId: number; online: boolean }
  /** A delta that changes the node's own packet filter. */
  | { kind: "filter" };

/** One node's receipt of a watched change. */
export interface Receipt {
  index: number;
  /** When its WebSocket delivered the message that carried the change (epoch ms). */
  at: number;
  /** Size of that message (bytes of UTF-8). */
  bytes: number;
}

/** How a node came back (rejoin, resync). */
export interface Reconnected {
  index: number;
  /** When the new connection was started (epoch ms). */
  startedAt: number;
  /** "map" (a full map) or "delta" (resumed). */
  kind: "map" | "delta";
  /** Size of that first message. */
  bytes: number;
  peers: number;
}

/** Counters and problems of a worker. */
export interface WorkerStats {
  nodes: number;
  /** Messages applied (maps and deltas). */
  applied: number;
  /** Streams the server closed with a code that asks for a resume (1006, 1012, 4429...). */
  resumedAfterClose: number;
  /** Connections (joins, rejoins, resumes) answered with a full map, and with a delta. */
  fullMaps: number;
  deltaResumes: number;
  /** Connected nodes per control server URL (in the rig's order). */
  onUrl: number[];
  /** Correctness problems: sequence gaps, undecodable or contradicting messages, refusals. */
  errors: string[];
  rss: number;
}

/** Requests a worker answers. */
export type WorkerRequest =
  | { id: number; op: "join"; nodes: NodeSpec[]; concurrency: number }
  /** Resolves when every listed node's map holds exactly that many peers. */
  | { id: number; op: "settle"; peers: { index: number; count: number }[]; hangAfterMs: number }
  | { id: number; op: "peers"; index: number }
  /** Each listed node's peers: ids, and those not online. */
  | { id: number; op: "peerSets"; indices: number[] }
  | { id: number; op: "arm"; watch: number; spec: WatchSpec }
  | { id: number; op: "collect"; watch: number; hangAfterMs: number }
  | { id: number; op: "update"; index: number; endpoints: string[] }
  | { id: number; op: "drop"; index: number }
  | { id: number; op: "rejoin"; indices: number[]; resume: boolean }
  | { id: number; op: "stats" }
  /**
   * Connects the listed nodes to relay `index mod relays.length` (their home), each reporting
   * it as homeRelay (`relays` are every relay, by id); then waits until every node of the
   * worker holds a home relay for each of its peers.
   */
  | {
      id: number;
      op: "relayConnect";
      indices: number[];
      relays: RelayInfo[];
      concurrency: number;
      hangAfterMs: number;
    }
  /** Pairs whose senders live in this worker: pings, then a burst, over the receiver's home. */
  | {
      id: number;
      op: "relayPing";
      pairs: RelayPair[];
      pings: number;
      burst: number;
      packetBytes: number;
      hangAfterMs: number;
    }
  | { id: number; op: "exit" };

/** Replies of a worker. */
export type WorkerReply =
  | { id: number; ok: true; op: "join"; results: JoinResult[] }
  | { id: number; ok: true; op: "settle"; wrong: { index: number; count: number }[] }
  | { id: number; ok: true; op: "peers"; ids: number[] }
  | {
      id: number;
      ok: true;
      op: "peerSets";
      sets: { index: number; ids: number[]; offline: number[] }[];
    }
  | { id: number; ok: true; op: "arm"; expected: number[] }
  | { id: number; ok: true; op: "collect"; receipts: Receipt[]; missing: number[] }
  | { id: number; ok: true; op: "update"; at: number }
  | { id: number; ok: true; op: "drop"; at: number }
  | { id: number; ok: true; op: "rejoin"; results: Reconnected[] }
  | { id: number; ok: true; op: "stats"; stats: WorkerStats }
  | {
      id: number;
      ok: true;
      op: "relayConnect";
      connected: number;
      failed: string[];
      /** When the last node was welcomed, and when every map held every peer's home (epoch ms). */
      linkedAt: number;
      homesAt: number;
      /** Nodes whose map still lacked a peer's home relay after the hang guard. */
      homesMissing: string[];
    }
  | { id: number; ok: true; op: "relayPing"; sample: RelaySample }
  | { id: number; ok: true; op: "exit" }
  | { id: number; ok: false; error: string };
