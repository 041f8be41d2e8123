// The engine's API, private URLs (issue 16, DESIGN §9.4, docs/private-urls.md): an app origin's
// bridge hands the engine a MessagePort bound to one private service (part of EngineApi,
// re-exported by worker/api.ts). What moves on the port is worker/http/app-port.ts.

/** Private URLs: app ports. */
export interface AppsApi {
  /**
   * Binds `port` to the private service that `appOrigin` names and serves it: the origin's
   * first DNS label is the service label (`http://web-01--3000.corridor.localhost:8080` is
   * `web-01` port 3000, worker/http/service-label.ts); the rest of the host and the port are
   * kept to build app origins of other services when a redirect's Location is rewritten.
   * The port then carries AppPortMessage in and AppPortReply out until it closes. The caller
   * (the bridge page) must pass the origin the browser vouched for (`event.origin`), never one
   * named in a message. Rejects with an Error saying what is wrong with the origin (not http or
   * https, a path or credentials in it, a label that names no service, no apps domain after the
   * label) and closes the port.
   */
  openAppPort(appOrigin: string, port: MessagePort): Promise<void>;
}
