/**
 * Running tests/fixtures/serve_embedded.ts (`serve({ exit: false })` in a
 * program) and reading what it saw.
 *
 * @module
 */

import { hostEnv, startDirect } from "./direct.ts";
import { assert } from "./host.ts";

/** What the embedding program saw. */
export interface EmbeddedResult {
  scenario: string;
  binds: string[];
  shutdowns: number;
  resolved: boolean;
  error: string;
  errorName: string;
  stopResolved: boolean;
  stopError: string;
  finished: boolean;
  socketLeft: boolean;
  /** Whether `console.log` reached stdout afterwards (serve() gave the console back). */
  consoleRestored: boolean;
}

/**
 * Runs the embedding program to its end and returns its RESULT line.
 *
 * @param cmd The argv running `tests/fixtures/serve_embedded.ts` (or its bundle).
 * @param dir Its working and socket directory.
 * @param env Extra environment, besides the host's variables.
 * @returns The result, the program's stderr and its exit code.
 */
export async function embeddedResult(
  cmd: string[],
  dir: string,
  env: Record<string, string> = {},
): Promise<{ result: EmbeddedResult; stderr: string; code: number }> {
  const p = startDirect(cmd, { cwd: dir, env: hostEnv(dir, env) });
  const status = await p.status;
  const stderr = p.stderrLines.join("\n");
  const raw = p.stdoutLines.find((l) => l.startsWith("RESULT "));
  assert(raw, `no RESULT line (exit ${status.code}); stderr:\n${stderr}`);
  const result = {
    ...JSON.parse(raw.slice(7)),
    consoleRestored: p.stdoutLines.includes("CONSOLE-PROBE"),
  };
  return { result, stderr, code: status.code };
}
