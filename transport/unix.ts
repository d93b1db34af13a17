/**
 * Unix-socket transport: where the socket goes, how long its path may be,
 * who may use it, and removing it again.
 *
 * @module
 */

import { ENV, SOCKET_NAME_PREFIX } from "../constants.ts";
import { StartupError } from "../errors.ts";

/** Longest socket path the OS accepts (sun_path minus the NUL byte). */
export function maxSocketPathLength(os: typeof Deno.build.os = Deno.build.os): number {
  return os === "linux" ? 107 : 103;
}

/**
 * A fresh socket path in `dir`: `<dir>/plugin<random digits>` (nothing is
 * created; the length is not checked).
 *
 * @param dir The directory.
 * @returns The path.
 */
export function socketPathIn(dir: string): string {
  const trimmed = dir.replace(/\/+$/, "");
  const digits = crypto.getRandomValues(new Uint32Array(2));
  return `${trimmed}/${SOCKET_NAME_PREFIX}${digits[0]}${digits[1] % 100000}`;
}

/**
 * Chooses a fresh socket path: `<dir>/plugin<random digits>`, where dir is
 * `PLUGIN_UNIX_SOCKET_DIR`, else `TMPDIR`, else `/tmp`.
 *
 * @param getEnv Reads one environment variable.
 * @returns The path (nothing is created).
 * @throws {StartupError} When the path would be too long for the OS.
 */
export function chooseSocketPath(getEnv: (name: string) => string | undefined): string {
  const fromHost = getEnv(ENV.unixSocketDir);
  const path = socketPathIn(fromHost || getEnv("TMPDIR") || "/tmp");
  const limit = maxSocketPathLength();
  if (new TextEncoder().encode(path).length > limit) {
    const which = fromHost ? ENV.unixSocketDir : "TMPDIR";
    throw new StartupError(
      `The unix socket path "${path}" is longer than the ${limit} bytes the OS allows: ` +
        `set ${which} to a shorter directory (for example /tmp)`,
    );
  }
  return path;
}

/**
 * Checks that the socket directory exists and is a directory, so the error
 * says so instead of a bare bind failure. `serve()` calls it once the bind
 * has failed, not before: a stat on every start is a cold op before the
 * handshake line.
 *
 * @param path The socket path whose bind failed.
 * @throws {StartupError} When its directory is missing.
 */
export function checkSocketDir(path: string): void {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(dir);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new StartupError(
        `The socket directory "${dir}" does not exist: create it, or point ${ENV.unixSocketDir} (or TMPDIR) at an existing directory`,
        { cause: err },
      );
    }
    if (err instanceof Deno.errors.NotCapable) return; // the bind reports the flag
    throw err;
  }
  if (!info.isDirectory) {
    throw new StartupError(
      `The socket directory "${dir}" is not a directory: point ${ENV.unixSocketDir} (or TMPDIR) at a directory`,
    );
  }
}

function lookupGroup(name: string): number {
  let text: string;
  try {
    text = Deno.readTextFileSync("/etc/group");
  } catch (cause) {
    throw new StartupError(
      `Cannot resolve group "${name}" from ${ENV.unixSocketGroup}: /etc/group is unreadable ` +
        "(run with --allow-read=/etc/group, or have the host pass a numeric gid)",
      { cause },
    );
  }
  for (const line of text.split("\n")) {
    const [gname, , gid] = line.split(":");
    if (gname === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new StartupError(
    `${ENV.unixSocketGroup} names the group "${name}", which does not exist: ` +
      "the host must name an existing group or gid",
  );
}

/**
 * Gives the socket to `group` (name or numeric gid) with mode 0660, as
 * go-plugin does for `PLUGIN_UNIX_SOCKET_GROUP`.
 *
 * @param path The bound socket.
 * @param group Group name or gid.
 * @throws {StartupError} When the group does not exist or chown fails.
 */
export function applySocketGroup(path: string, group: string): void {
  const gid = /^\d+$/.test(group) ? Number(group) : lookupGroup(group);
  try {
    Deno.chownSync(path, null, gid);
    Deno.chmodSync(path, 0o660);
  } catch (cause) {
    throw new StartupError(
      `Cannot give the socket "${path}" to group ${group} (${(cause as Error).message}): ` +
        "the plugin's user must be a member of that group",
      { cause },
    );
  }
}

/**
 * Resolves a group before binding, so a bad group fails before any file is
 * made. Returns the gid.
 *
 * @param group Group name or gid from the host.
 * @returns The numeric gid.
 */
export function resolveGroup(group: string): number {
  return /^\d+$/.test(group) ? Number(group) : lookupGroup(group);
}

/**
 * Removes a socket file; a file that is already gone is fine.
 *
 * @param path The socket path.
 */
export function removeSocket(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // already gone, or not ours to remove
  }
}
