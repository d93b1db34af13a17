/**
 * Running the real Terraform and OpenTofu CLIs against the example provider
 * (examples/terraform/), for terraform_cli_test.ts and the bench: finding or
 * building each CLI, a working directory with a dev_overrides CLI
 * configuration (no `init`, no network), and one CLI command at a time.
 *
 * - Terraform: `terraform` from PATH (an unpacked release on our machines,
 *   owned by no package: it may be missing).
 * - OpenTofu: built from the Go module proxy by terraform_tofu/build.sh (a Go
 *   module of ours that requires github.com/opentofu/opentofu at a pinned tag
 *   and repeats its hcl replace directive) into .cache/bin/tofu@<version>/.
 *
 * @module
 */

import { PROVIDER_ADDRESS } from "../../examples/terraform/provider.ts";
import { ROOT } from "../_util/plugin.ts";

/** The directory of the provider's launcher script (what dev_overrides names for the source form). */
export const PROVIDER_SOURCE_DIR: string =
  new URL("../../examples/terraform", import.meta.url).pathname;

/** What a CLI is. */
export interface Cli {
  /** `Terraform` or `OpenTofu`. */
  readonly name: string;
  /** The binary. */
  readonly bin: string;
  /** Its version line, e.g. `Terraform v1.11.4`. */
  readonly version: string;
}

/** A CLI could not be found or built: the message says what is missing. */
export class CliUnavailableError extends Error {
  /** @param message What is missing and how to get it. */
  constructor(message: string) {
    super(message);
    this.name = "CliUnavailableError";
  }
}

const decoder = new TextDecoder();

async function versionLine(bin: string): Promise<string> {
  const res = await new Deno.Command(bin, {
    args: ["version"],
    env: { CHECKPOINT_DISABLE: "1", TF_CLI_CONFIG_FILE: "/dev/null" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const line = decoder.decode(res.stdout).split("\n").find((l) =>
    /^(Terraform|OpenTofu) v/.test(l)
  );
  if (!res.success || !line) {
    throw new CliUnavailableError(`${bin} version failed: ${decoder.decode(res.stderr).trim()}`);
  }
  return line.trim();
}

/** Where a command is on PATH, or undefined. */
export function onPath(cmd: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      const info = Deno.statSync(`${dir}/${cmd}`);
      if (info.isFile && (info.mode ?? 0) & 0o111) return `${dir}/${cmd}`;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Terraform from PATH.
 *
 * @returns The CLI.
 * @throws {CliUnavailableError} When it is not on PATH or does not run.
 */
export async function terraformCli(): Promise<Cli> {
  const bin = onPath("terraform");
  if (!bin) {
    throw new CliUnavailableError(
      "terraform is not on PATH: unpack a Terraform release (1.11 or newer) into a PATH directory",
    );
  }
  return { name: "Terraform", bin, version: await versionLine(bin) };
}

/** The OpenTofu version terraform_tofu/go.mod pins. */
export function tofuVersion(): string {
  const mod = Deno.readTextFileSync(`${ROOT}tests/interop/terraform_tofu/go.mod`);
  const m = mod.match(/^require github\.com\/opentofu\/opentofu (v\S+)$/m);
  if (!m) {
    throw new CliUnavailableError("terraform_tofu/go.mod requires no github.com/opentofu/opentofu");
  }
  return m[1];
}

let tofu: Promise<Cli> | undefined;

/**
 * OpenTofu, built once (terraform_tofu/build.sh; a binary already in
 * .cache/bin is reused, and Go's build cache makes a rebuild quick).
 *
 * @returns The CLI.
 * @throws {CliUnavailableError} When Go is missing or the build fails.
 */
export function tofuCli(): Promise<Cli> {
  tofu ??= (async () => {
    if (!onPath("go")) {
      throw new CliUnavailableError(
        `go is not on PATH: OpenTofu ${tofuVersion()} is built from the Go module proxy and needs Go 1.26`,
      );
    }
    const res = await new Deno.Command("bash", {
      args: [`${ROOT}tests/interop/terraform_tofu/build.sh`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!res.success) {
      throw new CliUnavailableError(
        `building OpenTofu ${tofuVersion()} failed:\n${decoder.decode(res.stderr)}`,
      );
    }
    const bin = decoder.decode(res.stdout).trim().split("\n").pop()!;
    return { name: "OpenTofu", bin, version: await versionLine(bin) };
  })();
  return tofu;
}

/** A CLI run's outcome. */
export interface CliRun {
  /** The command line, for messages. */
  readonly command: string;
  /** Exit code. */
  readonly code: number;
  /** stdout and stderr, in that order. */
  readonly output: string;
  /** Wall time (ms). */
  readonly ms: number;
}

/**
 * The CLI configuration that makes Terraform use the provider from `dir`
 * without `init` or a registry (dev_overrides), other providers as usual.
 *
 * @param dir The directory holding `terraform-provider-example`.
 * @param extra More provider addresses and their directories.
 * @returns The file's text.
 */
export function devOverridesConfig(dir: string, extra: Record<string, string> = {}): string {
  const lines = Object.entries({ [PROVIDER_ADDRESS]: dir, ...extra })
    .map(([addr, d]) => `    ${JSON.stringify(addr)} = ${JSON.stringify(d)}`);
  return `provider_installation {\n  dev_overrides {\n${lines.join("\n")}\n  }\n  direct {}\n}\n`;
}

/** A working directory for one CLI: the configuration and state live in it. */
export class Workspace {
  /** The working directory. */
  readonly dir: string;
  /** TMPDIR of the CLI and so of its providers: their socket directories go there. */
  readonly tmp: string;
  /** The CLI. */
  readonly cli: Cli;
  /** Environment for every command (the CLI configuration, no checkpoint, no network). */
  readonly env: Record<string, string>;

  /**
   * @param cli The CLI.
   * @param dir An empty directory.
   * @param env Extra environment (TF_REATTACH_PROVIDERS, TF_DISABLE_PLUGIN_TLS, ...); a
   *   TMPDIR in it is the workspace's {@linkcode Workspace.tmp} (default `<dir>/.tmp`).
   */
  constructor(cli: Cli, dir: string, env: Record<string, string> = {}) {
    this.cli = cli;
    this.dir = dir;
    this.tmp = env.TMPDIR ?? `${dir}/.tmp`;
    this.env = {
      TF_CLI_CONFIG_FILE: `${dir}/.cli.tfrc`,
      CHECKPOINT_DISABLE: "1",
      TF_IN_AUTOMATION: "1",
      TMPDIR: this.tmp,
      // The launcher runs this deno, not whichever is first on PATH.
      DENO: Deno.execPath(),
      // Nothing may go to the network: a proxy that refuses makes any try fail.
      HTTPS_PROXY: "http://127.0.0.1:9",
      HTTP_PROXY: "http://127.0.0.1:9",
      ...env,
    };
  }

  /**
   * Creates the workspace's files: the CLI configuration and TMPDIR.
   *
   * @param providerDir The directory holding `terraform-provider-example`.
   * @param extra More dev_overrides: provider address to directory.
   */
  async init(providerDir: string, extra: Record<string, string> = {}): Promise<void> {
    await Deno.mkdir(this.tmp, { recursive: true });
    await Deno.writeTextFile(this.env.TF_CLI_CONFIG_FILE, devOverridesConfig(providerDir, extra));
  }

  /** Writes `main.tf`. */
  async config(text: string): Promise<void> {
    await Deno.writeTextFile(`${this.dir}/main.tf`, text);
  }

  /**
   * Runs one CLI command in the working directory.
   *
   * @param args E.g. `["plan", "-detailed-exitcode"]`; `-no-color` is added after the
   *   command's name (flags go before its arguments), except for `state` subcommands.
   * @param env More environment for this command.
   * @returns Its outcome.
   */
  async run(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
    const full = args[0] === "state" ? args : [args[0], "-no-color", ...args.slice(1)];
    const began = performance.now();
    const res = await new Deno.Command(this.cli.bin, {
      args: full,
      cwd: this.dir,
      env: { ...this.env, ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      command: `${this.cli.name.toLowerCase()} ${full.join(" ")}`,
      code: res.code,
      output: decoder.decode(res.stdout) + decoder.decode(res.stderr),
      ms: performance.now() - began,
    };
  }

  /** The resources in the state file (none when there is no state yet). */
  async stateResources(): Promise<
    { type: string; name: string; mode: string; attributes: Record<string, unknown> }[]
  > {
    let text: string;
    try {
      text = await Deno.readTextFile(`${this.dir}/terraform.tfstate`);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return [];
      throw err;
    }
    const state = JSON.parse(text) as {
      resources: {
        type: string;
        name: string;
        mode: string;
        instances: { attributes: Record<string, unknown> }[];
      }[];
    };
    return state.resources.flatMap((r) =>
      r.instances.map((i) => ({
        type: r.type,
        name: r.name,
        mode: r.mode,
        attributes: i.attributes,
      }))
    );
  }
}

/**
 * Everything left under a directory, as relative paths (for the check that
 * no socket or socket directory outlives a run).
 */
export function leftovers(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const rel = `${prefix}${e.name}`;
    out.push(rel);
    if (e.isDirectory) out.push(...leftovers(`${dir}/${e.name}`, `${rel}/`));
  }
  return out;
}
