#!/usr/bin/env bash
# Regenerates the committed protobuf code (gen/ and examples/kv/gen/).
# Needs protoc (Debian: apt-get install protobuf-compiler) and ts-proto from npm;
# only maintainers who change a .proto file run this.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${TSPROTO_DIR:-$PWD/.tools/ts-proto}"
if [ ! -x "$TOOLS/node_modules/.bin/protoc-gen-ts_proto" ]; then
  mkdir -p "$TOOLS"
  (cd "$TOOLS" && npm install --no-save --silent ts-proto@2.18.0)
fi
OPTS="outputServices=generic-definitions,importSuffix=.ts,esModuleInterop=true,env=browser,outputJsonMethods=false,outputPartialMethods=false,useOptionals=none,forceLong=bigint,outputTypeRegistry=false,useDate=false,fileSuffix=_pb"
gen() { # <proto root> <out dir> <files...>
  local root=$1 out=$2; shift 2
  rm -rf "$out"; mkdir -p "$out"
  protoc --plugin="$TOOLS/node_modules/.bin/protoc-gen-ts_proto" -I "$root" \
    --ts_proto_out="$out" --ts_proto_opt="$OPTS" "$@"
}
gen proto gen proto/plugin/*.proto proto/grpc/health/v1/health.proto
gen examples/kv/proto examples/kv/gen examples/kv/proto/kv.proto
deno fmt gen examples/kv/gen >/dev/null
