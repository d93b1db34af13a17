/**
 * A plugin project as a user makes one, in a temporary directory, with the
 * library mapped to this checkout (JSR is not reachable from our machines,
 * and the code under test is this checkout anyway).
 *
 * @module
 */

const REPO = new URL("../../", import.meta.url);

/** The path of this checkout's codegen script (JSR: `jsr:@rpcplugin/rpcplugin/codegen`). */
export const CODEGEN: string = new URL("codegen/mod.ts", REPO).pathname;

/**
 * A deno.json as a user's, whose `@rpcplugin/rpcplugin` entries point here.
 *
 * @returns The JSON text.
 */
export async function projectDenoJson(): Promise<string> {
  const ours = JSON.parse(await Deno.readTextFile(new URL("deno.json", REPO)));
  const imports: Record<string, string> = {
    ...ours.imports, // what the library itself imports, as JSR would resolve it
    "@rpcplugin/rpcplugin": new URL("mod.ts", REPO).href,
    "@rpcplugin/rpcplugin/grpc-js": new URL("server/engines/grpcjs.ts", REPO).href,
    "@rpcplugin/rpcplugin/protobuf-es": new URL("rpc/protobuf_es.ts", REPO).href,
    "@rpcplugin/rpcplugin/testing": new URL("testing/mod.ts", REPO).href,
    // What the README tells the user to add (`deno add npm:@bufbuild/protobuf@2.17.0`).
    "@bufbuild/protobuf": "npm:@bufbuild/protobuf@^2.17.0",
  };
  return JSON.stringify({ imports }, null, 2);
}

/** A finished command's status and output. */
export interface RunResult {
  /** Exit status. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * Runs a command to its end, output captured.
 *
 * @returns Its status and output.
 */
export async function run(
  cmd: string,
  args: string[],
  cwd: string,
  env?: Record<string, string>,
): Promise<RunResult> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}
