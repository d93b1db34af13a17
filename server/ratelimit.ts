/**
 * Optional rate limiting of the plugin's own services: a token bucket, as
 * pyvider-rpcplugin offers. Calls over the limit are answered
 * RESOURCE_EXHAUSTED at once; the built-in services (health, controller,
 * stdio) are never limited, so the host can always stop the plugin.
 *
 * @module
 */

import { mapHandlers, type ServiceImplementation } from "../rpc/service.ts";
import { RpcError, Status } from "../rpc/status.ts";

/**
 * `serve()`'s `rateLimit`: a token bucket in front of your services. Calls
 * over it are answered RESOURCE_EXHAUSTED at once; health, controller and
 * stdio are never limited.
 *
 * @example 100 calls/s on average, bursts of 20
 * ```ts
 * import type { RateLimit } from "@rpcplugin/rpcplugin";
 * const rateLimit: RateLimit = { rate: 100, burst: 20 };
 * ```
 */
export interface RateLimit {
  /** Calls per second allowed on average. */
  rate: number;
  /** Calls allowed at once after a quiet period (the bucket's size). */
  burst: number;
}

/** A token bucket: `burst` tokens, refilled at `rate` per second. */
export class TokenBucket {
  #tokens: number;
  #last: number;

  /**
   * @param limit Rate and burst; both must be positive.
   * @param now Clock in milliseconds (tests).
   */
  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    if (!(limit.rate > 0) || !(limit.burst >= 1)) {
      throw new RangeError(
        `rateLimit needs rate > 0 and burst >= 1 (got rate ${limit.rate}, burst ${limit.burst})`,
      );
    }
    this.#tokens = limit.burst;
    this.#last = now();
  }

  /** Takes one token if there is one. */
  take(): boolean {
    const t = this.now();
    this.#tokens = Math.min(
      this.limit.burst,
      this.#tokens + ((t - this.#last) / 1000) * this.limit.rate,
    );
    this.#last = t;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /**
   * Wraps a service so each call first takes a token, or fails with
   * RESOURCE_EXHAUSTED.
   *
   * @param service The service to limit.
   * @returns The limited service.
   */
  guard(service: ServiceImplementation): ServiceImplementation {
    const { rate, burst } = this.limit;
    return mapHandlers(service, (fn, method) => (...args: unknown[]) => {
      if (!this.take()) {
        throw new RpcError(
          Status.RESOURCE_EXHAUSTED,
          `rate limit exceeded for ${method.path}: ${rate} calls/s, bursts of ${burst}; retry later`,
        );
      }
      return fn(...args);
    });
  }
}
