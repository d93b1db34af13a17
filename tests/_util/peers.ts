/**
 * The third-party peers the host-side interop tests run against, each set up
 * once per process and cached under .cache/ (gitignored):
 *
 * - terraform-provider-time, a real Terraform provider (terraform-plugin-framework
 *   on go-plugin; protocol 5);
 * - grpc-go's interop server and client (`grpc.testing.TestService`), and
 *   our grpc-go peer for the compression cases they lack (gzippeer);
 * - go-plugin's own Go KV plugin;
 * - h2spec, the HTTP/2 conformance tester;
 * - pyvider-rpcplugin (Python): its KV plugin and, on its client, our
 *   tests/interop/pyvider_host.py.
 *
 * @module
 */

import { TERRAFORM_HANDSHAKE } from "../../examples/terraform/tfplugin6/mod.ts";
import { preparePython } from "../../bench/_setup.ts";
import { buildGo, goInstall } from "./go.ts";
import { ROOT } from "./plugin.ts";

/** The pinned versions of the Go peers (module versions on the Go module proxy). */
export const PEER_VERSIONS = {
  /** github.com/hashicorp/terraform-provider-time */
  terraformProviderTime: "v0.14.2",
  /** google.golang.org/grpc (interop server and client) */
  grpcInterop: "v1.85.0",
  /** github.com/summerwind/h2spec (no go.mod of its own: `+incompatible`) */
  h2spec: "v2.2.1+incompatible",
} as const;

/** Terraform's handshake cookie (what Terraform and OpenTofu set for every provider). */
export const TF_MAGIC_COOKIE = {
  key: TERRAFORM_HANDSHAKE.magicCookieKey,
  value: TERRAFORM_HANDSHAKE.magicCookieValue,
} as const;

/**
 * Installs terraform-provider-time. It serves tfplugin5 only; with `-debug` it
 * prints TF_REATTACH_PROVIDERS instead of a handshake and stops on SIGINT.
 *
 * @returns The path of the `terraform-provider-time` binary.
 */
export function terraformProviderTime(): Promise<string> {
  return goInstall(
    "terraform-provider-time",
    "github.com/hashicorp/terraform-provider-time",
    PEER_VERSIONS.terraformProviderTime,
  );
}

/**
 * Installs grpc-go's interop server: plaintext unless `-use_tls`, listening on
 * all interfaces at `-port` (default 10000).
 *
 * @returns The path of its `server` binary.
 */
export function grpcInteropServer(): Promise<string> {
  return goInstall(
    "grpc-interop-server",
    "google.golang.org/grpc/interop/server",
    PEER_VERSIONS.grpcInterop,
  );
}

/**
 * Installs grpc-go's interop client (`-server_host`, `-server_port`,
 * `-test_case`, plaintext unless `-use_tls`).
 *
 * @returns The path of its `client` binary.
 */
export function grpcInteropClient(): Promise<string> {
  return goInstall(
    "grpc-interop-client",
    "google.golang.org/grpc/interop/client",
    PEER_VERSIONS.grpcInterop,
  );
}

/**
 * Builds our grpc-go peer for the interop compression cases
 * (tests/interop/gzippeer, on the grpc-go tests/interop/go.mod pins):
 * `-mode=client -server_port=N -test_case=X` runs client_compressed_unary,
 * server_compressed_unary or server_compressed_streaming; `-mode=server
 * -port=0` serves them, logging "gzippeer listening on 127.0.0.1:PORT".
 *
 * @returns The path of the binary.
 */
export function gzipPeer(): Promise<string> {
  return buildGo("gzippeer");
}

/**
 * Installs h2spec, the HTTP/2 conformance tester (RFC 7540/9113 and
 * RFC 7541 cases): `h2spec -h HOST -p PORT [-S] [-j report.xml]` against an
 * h2c (plaintext) server, `-t` for TLS.
 *
 * @returns The path of the `h2spec` binary.
 */
export function h2spec(): Promise<string> {
  return goInstall("h2spec", "github.com/summerwind/h2spec/cmd/h2spec", PEER_VERSIONS.h2spec);
}

/**
 * Builds go-plugin's Go KV plugin (examples/grpc/plugin-go-grpc, at the
 * go-plugin version tests/interop/go.mod pins).
 *
 * @returns The path of the binary.
 */
export function kvGoPlugin(): Promise<string> {
  return buildGo("kvgo");
}

/** How to run pyvider-rpcplugin's KV plugin and our pyvider host. */
export interface PyviderVenv {
  /** The venv's python. */
  python: string;
  /** PYTHONPATH holding the generated kv_pb2 modules; both scripts need it. */
  pythonPath: string;
  /** Version line of the interpreter. */
  version: string;
  /** The KV plugin on pyvider's server (bench/python/kv_plugin.py); run it with `python`. */
  kvPlugin: string;
  /**
   * The KV host on pyvider's client (tests/interop/pyvider_host.py; its header
   * lists what that client does and does not do): `python pyvider_host.py
   * [--plain] [--key K] [--value V] [--cookie K=V] [--timeout S] -- PLUGIN...`
   * prints the value and exits 0, or prints `error: ...` and exits 1.
   */
  host: string;
}

let venv: Promise<PyviderVenv> | undefined;

/**
 * Creates (or reuses) the benchmarks' venv with the pinned pyvider-rpcplugin
 * (.cache/bench/venv, see bench/_setup.ts), once per process. The interpreter
 * it is made with is `$BENCH_PYTHON`, else `python3` (3.11 or newer).
 *
 * @returns The interpreter, PYTHONPATH and the two scripts.
 */
export function pyviderVenv(): Promise<PyviderVenv> {
  venv ??= preparePython(Deno.env.get("BENCH_PYTHON") ?? "python3").then((py) => ({
    ...py,
    kvPlugin: `${ROOT}bench/python/kv_plugin.py`,
    host: `${ROOT}tests/interop/pyvider_host.py`,
  }));
  return venv;
}
