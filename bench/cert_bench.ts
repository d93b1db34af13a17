/**
 * Timings of tls/cert.ts, printed as a markdown table (never asserted).
 *
 * - Import: `import("pkijs")` and `import("../tls/cert.ts")`, each measured
 *   inside a fresh `deno` subprocess, since a module is evaluated only once
 *   per process. The npm cache is warm; nothing is downloaded.
 * - The first ECDSA key generation of a process, in a fresh subprocess: it
 *   pays a one-time setup cost, whatever the curve.
 * - Generation: `generateCertificate({ keyType })` per key type. The first
 *   call of each type is reported on its own (P-256 goes first, so its first
 *   call carries the one-time cost above).
 * - Parsing: `parseCertificatePem()` of a P-256 certificate.
 *
 * Run: deno run --allow-read --allow-run bench/cert_bench.ts [--quick]
 *
 * @module
 */

import type { KeyType } from "../tls/cert.ts";
import { percentile, sorted } from "./_stats.ts";

const CHILD_FLAG = "--measure-first";

type ChildMeasure = "pkijs" | "cert" | "keygen";

// In a child process: time one first-in-process operation and print the ms.
if (Deno.args[0] === CHILD_FLAG) {
  const what = Deno.args[1] as ChildMeasure;
  const start = performance.now();
  if (what === "keygen") {
    await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
  } else {
    await import(what === "cert" ? "../tls/cert.ts" : "pkijs");
  }
  console.log((performance.now() - start).toFixed(2));
  Deno.exit(0);
}

const { generateCertificate, KEY_TYPES, parseCertificatePem } = await import("../tls/cert.ts");

const quick = Deno.args.includes("--quick");
const CHILD_RUNS = quick ? 3 : 7;
const GENERATE_RUNS: Record<KeyType, number> = quick
  ? {
    "ecdsa-p256": 10,
    "ecdsa-p384": 10,
    "ecdsa-p521": 10,
    "ed25519": 10,
    "rsa-2048": 3,
    "rsa-3072": 2,
    "rsa-4096": 2,
  }
  : {
    "ecdsa-p256": 50,
    "ecdsa-p384": 50,
    "ecdsa-p521": 50,
    "ed25519": 50,
    "rsa-2048": 10,
    "rsa-3072": 5,
    "rsa-4096": 5,
  };
const PARSE_RUNS = quick ? 50 : 500;

interface Row {
  what: string;
  first?: number;
  samples: number[];
}

function ms(value: number | undefined): string {
  if (value === undefined) return "–";
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
}

async function childTime(what: ChildMeasure): Promise<number> {
  const config = new URL("../deno.json", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--config", config, import.meta.filename!, CHILD_FLAG, what],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`${what} subprocess failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return Number(new TextDecoder().decode(output.stdout).trim());
}

const rows: Row[] = [];

const CHILD_ROWS: Record<ChildMeasure, string> = {
  pkijs: 'import("pkijs"), fresh process',
  cert: 'import("tls/cert.ts") (pkijs, asn1js, node:crypto), fresh process',
  keygen: "first ECDSA generateKey() of a process (one-time cost, any curve)",
};
for (const what of ["pkijs", "cert", "keygen"] as const) {
  const samples: number[] = [];
  for (let i = 0; i < CHILD_RUNS; i++) samples.push(await childTime(what));
  rows.push({ what: CHILD_ROWS[what], samples });
}

let p256Pem = "";
for (const keyType of KEY_TYPES) {
  let start = performance.now();
  const first = await generateCertificate({ keyType });
  const firstMs = performance.now() - start;
  if (keyType === "ecdsa-p256") p256Pem = first.certPem;
  const samples: number[] = [];
  for (let i = 0; i < GENERATE_RUNS[keyType]; i++) {
    start = performance.now();
    await generateCertificate({ keyType });
    samples.push(performance.now() - start);
  }
  rows.push({ what: `generateCertificate({ keyType: "${keyType}" })`, first: firstMs, samples });
}

{
  const samples: number[] = [];
  for (let i = 0; i < PARSE_RUNS; i++) {
    const start = performance.now();
    parseCertificatePem(p256Pem);
    samples.push(performance.now() - start);
  }
  rows.push({ what: "parseCertificatePem() of a P-256 certificate", samples });
}

console.log(
  `Deno ${Deno.version.deno} (V8 ${Deno.version.v8}), ${Deno.build.os}-${Deno.build.arch}, ` +
    `${navigator.hardwareConcurrency} CPUs${quick ? ", --quick" : ""}\n`,
);
console.log("| what | first (ms) | median (ms) | p90 (ms) | runs |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const row of rows) {
  console.log(
    `| ${row.what} | ${ms(row.first)} | ${ms(percentile(sorted(row.samples), 50))} | ${
      ms(percentile(sorted(row.samples), 90))
    } | ${row.samples.length} |`,
  );
}
