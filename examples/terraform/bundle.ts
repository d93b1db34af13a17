/**
 * Makes the provider's single-file form: `deno bundle` of main.ts into one
 * JavaScript file with a `#!/usr/bin/env -S deno run ...` line carrying the
 * same permissions as the launcher script, written as
 * `<out dir>/terraform-provider-example` (the name Terraform looks for in a
 * dev_overrides directory). It is the stand-in for `deno compile`, which
 * downloads a runtime this network cannot reach; it needs no deno.json, no
 * node_modules and no repository next to it.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run --allow-env --allow-net examples/terraform/bundle.ts OUT_DIR [--socket-dir=DIR] [--deno=PATH]
 * ```
 *
 * `--socket-dir` is where the provider's socket goes: Terraform's `$TMPDIR`
 * (default: this process's `$TMPDIR`, else `/tmp`); the provider may use it
 * and anything under it (a host's `PLUGIN_UNIX_SOCKET_DIR` below it). A
 * shebang line cannot read the environment, so it is fixed here. `--deno` puts that deno on the line
 * instead of the one on PATH.
 *
 * @module
 */

import { eagerCompileBundle } from "../../scripts/eager_compile.ts";
import { type Shebang, shebangLine, ShebangTooLongError } from "../../scripts/start_flags.ts";
import { firstCallFunctions } from "./first_calls.ts";
import { generateCertificate } from "../../tls/mod.ts";
import { PROTOCOL_VERSION, TERRAFORM_HANDSHAKE } from "./tfplugin6/mod.ts";

/** The executable's name: Terraform runs `terraform-provider-<type>`. */
export const EXECUTABLE = "terraform-provider-example";

/** Options of {@linkcode bundleProvider}. */
export interface BundleOptions {
  /** Where Terraform makes socket directories (its TMPDIR). @default {$TMPDIR or /tmp} */
  socketDir?: string;
  /** The deno on the shebang line. @default {"deno" (from PATH)} */
  deno?: string;
  /** The deno that bundles. @default {Deno.execPath()} */
  bundler?: string;
}

/** `deno bundle` failed. */
export class BundleError extends Error {
  /** @param message What deno said. */
  constructor(message: string) {
    super(message);
    this.name = "BundleError";
  }
}

/**
 * The permission flags of the provider, as the launcher script grants them.
 *
 * @param socketDir The socket directory's parent (Terraform's TMPDIR).
 * @returns The flags.
 */
export function providerFlags(socketDir: string): string[] {
  return [
    "--no-prompt",
    // Deno looks for a deno.json from the script's directory up: a user's Deno project
    // holding the executable would apply its config to the bundle (a broken one stops it).
    "--no-config",
    "--allow-env=TF_PLUGIN_MAGIC_COOKIE,PLUGIN_*,TMPDIR",
    "--allow-net",
    `--allow-read=.,${socketDir}`,
    `--allow-write=.,${socketDir}`,
  ];
}

/**
 * Bundles the provider into `<outDir>/terraform-provider-example`.
 *
 * @param outDir An existing directory.
 * @param options Socket directory and deno paths.
 * @returns The executable's path.
 * @throws {BundleError} When `deno bundle` fails, or the "#!" line cannot fit.
 */
export async function bundleProvider(outDir: string, options: BundleOptions = {}): Promise<string> {
  const socketDir = options.socketDir ?? (Deno.env.get("TMPDIR") || "/tmp");
  if (/\s/.test(socketDir)) {
    throw new BundleError(
      `The socket directory "${socketDir}" has a space: a shebang line cannot carry it`,
    );
  }
  // As many start flags (scripts/start_flags.ts) as the 255 bytes of the "#!" line leave room for.
  let shebang: Shebang;
  try {
    shebang = shebangLine(options.deno ?? "deno", providerFlags(socketDir));
  } catch (err) {
    if (!(err instanceof ShebangTooLongError)) throw err;
    throw new BundleError(`${err.message} (the socket directory is named twice on it)`);
  }
  const js = `${outDir}/${EXECUTABLE}.js`;
  const res = await new Deno.Command(options.bundler ?? Deno.execPath(), {
    args: ["bundle", "--platform=deno", "-o", js, new URL("./main.ts", import.meta.url).pathname],
    // The repository root, whose deno.json maps the npm imports.
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!res.success) {
    throw new BundleError(`deno bundle failed:\n${new TextDecoder().decode(res.stderr)}`);
  }
  // The functions a launch runs, compiled eagerly (and so kept in Deno's code
  // cache): profiled to its handshake line and its stop under AutoMTLS, as
  // Terraform launches it, and through Terraform's calls made by our host.
  const client = await generateCertificate({ extKeyUsages: ["clientAuth"] });
  await eagerCompileBundle(
    js,
    [{
      [TERRAFORM_HANDSHAKE.magicCookieKey]: TERRAFORM_HANDSHAKE.magicCookieValue,
      PLUGIN_PROTOCOL_VERSIONS: String(PROTOCOL_VERSION),
      PLUGIN_CLIENT_CERT: client.certPem,
    }],
    options.bundler,
    await firstCallFunctions(js, options.bundler),
  );
  const exe = `${outDir}/${EXECUTABLE}`;
  if (shebang.dropped.length > 0) {
    console.warn(
      `${exe}: the "#!" line has no room for ${shebang.dropped.join(" ")} ` +
        "(each launch starts slower); a shorter socket directory leaves room",
    );
  }
  await Deno.writeTextFile(exe, `${shebang.line}\n${await Deno.readTextFile(js)}`);
  await Deno.remove(js);
  await Deno.chmod(exe, 0o755);
  return exe;
}

if (import.meta.main) {
  const positional = Deno.args.filter((a) => !a.startsWith("--"));
  const opt = (name: string) =>
    Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  if (positional.length !== 1) {
    console.error("Usage: bundle.ts OUT_DIR [--socket-dir=DIR] [--deno=PATH]");
    Deno.exit(2);
  }
  await Deno.mkdir(positional[0], { recursive: true });
  console.log(
    await bundleProvider(positional[0], { socketDir: opt("socket-dir"), deno: opt("deno") }),
  );
}
