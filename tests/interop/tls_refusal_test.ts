/**
 * The plugin's TLS server refuses the clients it must refuse, checked with a
 * real Go TLS/gRPC client (tests/interop/tlsprobe) that plays a go-plugin
 * host: plaintext, no client certificate and an impostor certificate are
 * refused (also for a call with a side effect, KV.Put), garbage and HTTP/1
 * do not stop the plugin, the host's certificate gets SERVING, and SIGTERM
 * ends the plugin with status 0 and no socket left.
 *
 * Run: deno test --sanitize-ops --sanitize-resources --allow-run --allow-read --allow-write
 *   --allow-env --allow-net tests/interop/tls_refusal_test.ts
 */

import { generateCertificate } from "../../tls/mod.ts";
import { TEST_ENGINE } from "../_util/fixture.ts";
import {
  assert,
  assertEquals,
  socketFiles,
  waitNoProcesses,
  withTempDir,
  writeFiles,
} from "../_util/host.ts";
import { runTlsprobe } from "../_util/tlsprobe.ts";

/** The JSON object tlsprobe prints. */
interface ProbeResult {
  ok: boolean;
  error?: string;
  handshake: string;
  network: string;
  address: string;
  cert_key: string;
  cert_dns: string[] | null;
  cert_ips: string[] | null;
  alpn: string;
  tls_version: string;
  results: Record<string, string>;
  raw: Record<string, string>;
  kv: Record<string, string>;
  failures: string[];
  exit_code: number;
  exit_signal?: string;
  killed: boolean;
  socket_removed: boolean;
}

/** Runs tlsprobe against the fixture plugin, in `dir` (socket directory and working directory). */
async function probe(
  dir: string,
  pluginArgs: string[],
  flags: string[] = [],
  env: Record<string, string> = {},
) {
  const r = await runTlsprobe<ProbeResult>(dir, pluginArgs, flags, env);
  const result = r.result;
  /** Asserts `cond`, showing the probe's result and stderr when it fails. */
  const check = (cond: unknown, what: string): void =>
    assert(
      cond,
      `${what}\nprobe result: ${JSON.stringify(result, null, 1)}\nprobe stderr:\n${r.stderr}`,
    );
  return { ...r, result, check };
}

/** A refusal: the gRPC call failed at the connection level. */
const REFUSED = /^rpc error: code = Unavailable desc = /;

/**
 * Asserts every expectation of one probe run, one by one, then that the
 * plugin is gone and its socket removed.
 *
 * @param clientAuth Whether the plugin requires client certificates.
 */
async function expectRefusals(
  dir: string,
  p: Awaited<ReturnType<typeof probe>>,
  clientAuth = true,
) {
  const { result: res, check } = p;
  check(res.error === undefined, `the probe could not run: ${res.error}`);

  // The refused clients.
  const refused = clientAuth ? ["plaintext", "nocert", "othercert"] : ["plaintext"];
  for (const name of refused) {
    check(REFUSED.test(res.results[name]), `${name}: the plugin must refuse it`);
    check(REFUSED.test(res.kv[`${name}_put`]), `${name}: KV.Put must be refused`);
    check(
      res.kv[`${name}_stored`]?.startsWith("NotFound"),
      `${name}: its KV.Put must have stored nothing`,
    );
  }
  if (clientAuth) {
    for (const name of ["nocert", "othercert"]) {
      // Our SETTINGS may come first (0.5-RTT data); nothing that shows ours were read.
      check(
        !res.raw[name]?.startsWith("plugin read"),
        `${name}: on bare TLS the plugin read the refused client's data: ${res.raw[name]}`,
      );
    }
  } else {
    for (const name of ["nocert", "othercert"]) {
      check(res.results[name] === "SERVING", `${name}: no client CA, so it must be served`);
    }
  }

  // Garbage does not stop the plugin; the good client is served.
  check(res.results.garbage === "SERVING", "garbage: the plugin must keep serving");
  check(res.results.http1 === "SERVING", "http1: the plugin must keep serving");
  check(res.results.good === "SERVING", "good: the plugin must answer SERVING");
  check(
    res.kv.good_get?.startsWith("written by the good client"),
    "good: KV.Put then Get must work",
  );

  // TLS parameters.
  check(res.alpn === "h2", "ALPN must be h2");
  check(["TLS 1.2", "TLS 1.3"].includes(res.tls_version), "TLS 1.2 or 1.3");
  check(res.cert_dns?.includes("localhost"), "the plugin certificate must name DNS:localhost");

  // The end.
  check(res.exit_code === 0 && !res.killed, "SIGTERM must end the plugin with status 0");
  check(res.socket_removed, "the plugin must remove its socket");
  check(res.failures.length === 0, `failures: ${res.failures.join("; ")}`);
  check(res.ok && p.code === 0, `tlsprobe reported not ok (exit ${p.code})`);

  assertEquals(await waitNoProcesses(dir), [], "plugin processes left behind");
  assertEquals(socketFiles(dir), [], "socket files left behind");
}

/** The part of a handshake line before field 6, and field 6. */
function splitHandshake(line: string): [string, string] {
  const fields = line.split("|");
  return [fields.slice(0, 5).join("|"), fields[5]];
}

Deno.test("TLS refusal: AutoMTLS over a unix socket refuses plaintext, no cert, other cert", async () => {
  await withTempDir(async (dir) => {
    const p = await probe(dir, []);
    await expectRefusals(dir, p);
    const [head, field6] = splitHandshake(p.result.handshake);
    p.check(head.startsWith(`1|1|unix|${dir}/plugin`) && head.endsWith("|grpc"), "handshake");
    p.check(field6.length > 50 && !field6.includes("="), "field 6: unpadded base64 DER");
    p.check(
      p.result.cert_key === "Ed25519",
      "the default key under go-plugin's P-521 host certificate is Ed25519",
    );
  });
});

/**
 * The default AutoMTLS key type follows the host's certificate (tls/automtls.ts
 * defaultKeyType): Ed25519 only for a P-521 one for localhost, as go-plugin's hosts
 * make; P-256 for anything else, pyvider-rpcplugin's client's P-384 certificate
 * (and its P-521 one, whose grpcio cannot use a P-521 or Ed25519 server) among them.
 */
for (
  const [hostKey, hostCn, expected] of [
    ["p256", "localhost", "ECDSA P-256"],
    ["p384", "pyvider.rpcplugin.autogen.client", "ECDSA P-256"],
    ["p521", "pyvider.rpcplugin.autogen.client", "ECDSA P-256"],
  ]
) {
  Deno.test(`TLS refusal: AutoMTLS under a ${hostKey} host certificate for ${hostCn}: the default key is ${expected}`, async () => {
    await withTempDir(async (dir) => {
      const p = await probe(dir, [], ["-host-key", hostKey, "-host-cn", hostCn]);
      await expectRefusals(dir, p);
      p.check(p.result.cert_key === expected, `the plugin certificate must be ${expected}`);
    });
  });
}

Deno.test("TLS refusal: AutoMTLS over TCP", async () => {
  await withTempDir(async (dir) => {
    const min = 20000 + Math.floor(Math.random() * 20000);
    const p = await probe(dir, ["--transport=tcp"], [
      "-min-port",
      `${min}`,
      "-max-port",
      `${min + 20}`,
    ]);
    await expectRefusals(dir, p);
    const port = Number(p.result.address.split(":")[1]);
    p.check(
      p.result.network === "tcp" && p.result.address.startsWith("127.0.0.1:") &&
        port >= min && port <= min + 20,
      "TCP address in the host's port range",
    );
  });
});

Deno.test("TLS refusal: AutoMTLS with every client limited to TLS 1.2", async () => {
  await withTempDir(async (dir) => {
    const p = await probe(dir, [], ["-tls12"]);
    await expectRefusals(dir, p);
    p.check(p.result.tls_version === "TLS 1.2", "TLS 1.2 must be negotiated");
    // Our TLS 1.3 server handed these to node:tls (its fallback), with the ClientHello replayed.
    if (TEST_ENGINE === "native") {
      p.check(
        p.stderr.includes("TLS handshake handed to node:tls"),
        "TLS 1.2 goes to the fallback",
      );
    }
  });
});

for (
  const [keyType, expected] of [
    ["ecdsa-p256", "ECDSA P-256"],
    ["ecdsa-p521", "ECDSA P-521"],
    ["rsa-2048", "RSA 2048"],
  ]
) {
  Deno.test(`TLS refusal: AutoMTLS with a ${keyType} plugin certificate`, async () => {
    await withTempDir(async (dir) => {
      const p = await probe(dir, [`--automtls-key=${keyType}`]);
      await expectRefusals(dir, p);
      p.check(p.result.cert_key === expected, `the plugin certificate must be ${expected}`);
    });
  });
}

/** A CA, a server leaf and a client leaf, written as PEM files into `dir`. */
async function writeUserPki(dir: string) {
  const ca = await generateCertificate({ isCA: true, commonName: "rpcplugin test CA" });
  const server = await generateCertificate({
    issuer: ca,
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
  });
  const client = await generateCertificate({ issuer: ca, commonName: "test client" });
  await writeFiles(dir, {
    "ca.pem": ca.certPem,
    "server.pem": server.certPem,
    "server.key": server.keyPem,
    "client.pem": client.certPem,
    "client.key": client.keyPem,
  });
  return {
    probeFlags: [
      "-no-automtls",
      "-tls-ca",
      `${dir}/ca.pem`,
      "-client-cert",
      `${dir}/client.pem`,
      "-client-key",
      `${dir}/client.key`,
    ],
    serverArgs: [`--tls-cert=${dir}/server.pem`, `--tls-key=${dir}/server.key`],
    clientCaArg: `--tls-client-ca=${dir}/ca.pem`,
  };
}

Deno.test("TLS refusal: user-supplied TLS with a client CA refuses clients it did not sign", async () => {
  await withTempDir(async (dir) => {
    const pki = await writeUserPki(dir);
    const p = await probe(dir, [...pki.serverArgs, pki.clientCaArg], pki.probeFlags);
    await expectRefusals(dir, p);
    p.check(splitHandshake(p.result.handshake)[1] === "", "field 6 must be empty without AutoMTLS");
    p.check(p.result.cert_ips?.includes("127.0.0.1"), "the server leaf is served");
  });
});

Deno.test("TLS refusal: user-supplied TLS without a client CA serves any TLS client", async () => {
  await withTempDir(async (dir) => {
    const pki = await writeUserPki(dir);
    // GRPC_DEFAULT_SSL_ROOTS_FILE_PATH stays as the machine sets it: grpc-js
    // must not read that file (the documented flags do not allow it).
    const p = await probe(dir, pki.serverArgs, [...pki.probeFlags, "-client-auth=false"], {
      GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: "/etc/ssl/certs/ca-certificates.crt",
    });
    await expectRefusals(dir, p, false);
    p.check(splitHandshake(p.result.handshake)[1] === "", "field 6 must be empty without AutoMTLS");
  });
});
