// The few parts of oidc-provider (which ships no types) that test/control/oidc.test.ts uses: a
// real OpenID Provider run in the test, with its development login and consent pages.

declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  /** An account as findAccount returns it. */
  export interface ProviderAccount {
    accountId: string;
    claims(use: string, scope: string): Promise<Record<string, unknown>> | Record<string, unknown>;
  }

  /** The configuration keys the test sets. */
  export interface ProviderConfiguration {
    clients: Record<string, unknown>[];
    findAccount(
      ctx: unknown,
      id: string,
    ): Promise<ProviderAccount | undefined> | ProviderAccount | undefined;
    claims?: Record<string, string[]>;
    cookies?: { keys: string[] };
    features?: Record<string, { enabled: boolean }>;
    pkce?: { required(): boolean };
    ttl?: Record<string, number>;
  }

  /** The provider: `callback()` is its node:http request listener. */
  export default class Provider {
    constructor(issuer: string, configuration: ProviderConfiguration);
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }
}
