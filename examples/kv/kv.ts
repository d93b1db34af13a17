/**
 * The KV service of go-plugin's `examples/grpc`, implemented on files:
 * `Put` writes `kv_<key>` in the current directory holding
 * `<value>\n\nWritten from plugin-deno`; `Get` returns that file's bytes.
 *
 * @module
 */

import { fromTsProto, implement, RpcError, type ServiceImplementation, Status } from "../../mod.ts";
import { KVDefinition } from "./gen/kv_pb.ts";

const SUFFIX = new TextEncoder().encode("\n\nWritten from plugin-deno");

/** Options of {@linkcode kvService}. */
export interface KvOptions {
  /** Delay every call by this many milliseconds (tests of in-flight calls). */
  delayMs?: number;
}

/**
 * Where the files go: `kv_` in the current directory, as an absolute path
 * when the directory can be read. Deno's permission check (under
 * `--allow-read=<dirs>`) resolves a relative path against the current
 * directory on every read, one more system call per `Get`.
 */
function filePrefix(): string {
  try {
    return `${Deno.cwd()}/kv_`;
  } catch {
    return "kv_";
  }
}

/**
 * Builds the KV service.
 *
 * @param options Test knobs.
 * @returns The implementation to pass to `serve()`.
 */
export function kvService(options: KvOptions = {}): ServiceImplementation {
  const prefix = filePrefix();
  const get = (key: string) => {
    try {
      // Synchronous: a small file reads faster than an async op round trip.
      return { value: Deno.readFileSync(prefix + key) };
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new RpcError(Status.NOT_FOUND, `no value stored for key "${key}"`);
      }
      throw err;
    }
  };
  const put = (key: string, value: Uint8Array) => {
    const data = new Uint8Array(value.length + SUFFIX.length);
    data.set(value);
    data.set(SUFFIX, value.length);
    Deno.writeFileSync(prefix + key, data);
    return {};
  };
  const { delayMs } = options;
  if (delayMs) {
    const pause = () => new Promise((r) => setTimeout(r, delayMs));
    return implement(fromTsProto(KVDefinition), {
      async get(req) {
        await pause();
        return get(req.key);
      },
      async put(req) {
        await pause();
        return put(req.key, req.value);
      },
    });
  }
  // Answered in the same turn: no promise per call.
  return implement(fromTsProto(KVDefinition), {
    get: (req) => get(req.key),
    put: (req) => put(req.key, req.value),
  });
}
