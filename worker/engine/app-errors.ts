// Why a private request failed, as the app's service worker needs it (AppErrorCode picks the
// error page) and as a person reads it: what happened and what to do. The dial throws
// AppServiceError with its own code; the HTTP client's HttpError and plain errors are mapped.

import type { AppErrorCode } from "../http/app-port.ts";
import { HttpError } from "../http/errors.ts";
import type { ServiceAddress } from "../http/service-label.ts";
import { HttpEncodeError } from "../http/wire/errors.ts";

/** A failure the engine already classified (the dial's, an app port's refusal). */
export class AppServiceError extends Error {
  override readonly name = "AppServiceError";
  constructor(
    readonly code: AppErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** "web-01:3000", "[fd00::1]:80". */
export function serviceName(service: ServiceAddress): string {
  const host = service.host.includes(":") ? `[${service.host}]` : service.host;
  return `${host}:${service.port}`;
}

/** The sentence for a refused connection. */
export function refusedMessage(service: ServiceAddress): string {
  return `${serviceName(service)} refused the connection: nothing listens on port ${service.port} of ${service.host}. Start the service there, or check the port in the address.`;
}

/** The sentence for an https service (the engine speaks no TLS yet). */
export function tlsMessage(service: ServiceAddress): string {
  return `${serviceName(service)} speaks https, and the engine does not speak TLS to private hosts yet (docs/private-urls.md). Open the service's plain http port if it has one.`;
}

function textOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The code and sentence for anything a private request failed with. */
export function appErrorOf(
  error: unknown,
  service: ServiceAddress,
): { code: AppErrorCode; message: string } {
  if (error instanceof AppServiceError) return { code: error.code, message: error.message };
  if (error instanceof HttpError) {
    // A dial failure reaches us wrapped by the pool: the dial's own classification wins.
    if (error.cause instanceof AppServiceError) {
      return { code: error.cause.code, message: error.cause.message };
    }
    const name = serviceName(service);
    switch (error.code) {
      case "connect":
        if (/refused|ECONNREFUSED/i.test(error.message)) {
          return { code: "refused", message: refusedMessage(service) };
        }
        return {
          code: "failed",
          message: `${error.message}. Check that ${service.host} is online and its network is running.`,
        };
      case "timeout":
        return {
          code: "timeout",
          message: `${error.message}: ${name} did not answer in time. The service may be busy or stuck; try again, or check it on the host.`,
        };
      case "closed":
        return {
          code: "failed",
          message: `${error.message}. The server closed the connection; check its logs.`,
        };
      case "protocol":
        return {
          code: "protocol",
          message: `${error.message}. ${name} did not answer in HTTP/1.1 as the engine reads it (is it an http service? one speaking TLS needs an https address, not supported yet).`,
        };
      case "request":
        return { code: "bad-request", message: error.message };
      case "aborted":
        return { code: "aborted", message: `${name}: the request was aborted` };
    }
  }
  if (error instanceof HttpEncodeError) {
    return { code: "bad-request", message: `the request cannot be sent: ${error.message}` };
  }
  if (error instanceof Error && error.name === "AbortError") {
    return { code: "aborted", message: `${serviceName(service)}: the request was aborted` };
  }
  // A dial's own error (a WebSocket dials without the pool): its words decide.
  if (/refused|ECONNREFUSED/i.test(textOf(error))) {
    return { code: "refused", message: refusedMessage(service) };
  }
  return { code: "failed", message: `${serviceName(service)}: ${textOf(error)}` };
}
