#!/usr/bin/env bash
# Regenerates the committed protobuf code (gen/, examples/kv/gen/,
# examples/counter/gen/, examples/terraform/gen/ and the interop tests'
# tests/interop/gen/); only maintainers who change a .proto file
# run this. ts-proto comes from npm. The compiler is protoc if it is on PATH
# (Debian: apt-get install protobuf-compiler), else buf from npm, so nothing
# needs a system install. Both give the same code except one header line:
# protoc writes its version ("protoc v3.21.12", as in the committed files),
# buf none ("protoc unknown").
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${TSPROTO_DIR:-$PWD/.cache/tools}"
PLUGIN="$TOOLS/node_modules/.bin/protoc-gen-ts_proto"
BUF="$TOOLS/node_modules/.bin/buf"
# PROTOC= (empty) forces buf; PROTOC=/path picks a protoc.
PROTOC=${PROTOC-$(command -v protoc || true)}
if [ ! -x "$PLUGIN" ] || { [ -z "$PROTOC" ] && [ ! -x "$BUF" ]; }; then
  # Both at once: a later --no-save install would prune the other.
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-save --silent ts-proto@2.18.0 @bufbuild/buf@1.75.0
fi
OPTS="outputServices=generic-definitions,importSuffix=.ts,esModuleInterop=true,env=browser,outputJsonMethods=false,outputPartialMethods=false,useOptionals=none,forceLong=bigint,outputTypeRegistry=false,useDate=false,fileSuffix=_pb"
gen() { # <proto root> <out dir> <files...>
  local root=$1 out=$2; shift 2
  rm -rf "$out"; mkdir -p "$out"
  if [ -n "$PROTOC" ]; then
    "$PROTOC" --plugin="$PLUGIN" -I "$root" \
      --ts_proto_out="$out" --ts_proto_opt="$OPTS" "$@"
  else
    local paths=() f
    for f in "$@"; do paths+=(--path "$f"); done
    "$BUF" generate "$root" "${paths[@]}" --template \
      "{\"version\":\"v2\",\"plugins\":[{\"local\":\"$PLUGIN\",\"out\":\"$PWD/$out\",\"opt\":\"$OPTS\",\"strategy\":\"all\"}]}"
  fi
}
gen proto gen proto/plugin/*.proto proto/grpc/health/v1/health.proto
gen examples/kv/proto examples/kv/gen examples/kv/proto/kv.proto
gen examples/counter/proto examples/counter/gen examples/counter/proto/counter.proto
gen proto tests/interop/gen proto/grpc/testing/*.proto proto/tfplugin5/tfplugin5.proto
gen proto examples/terraform/gen proto/tfplugin6/tfplugin6.proto
# 80 columns first, then the repository's 100: that is how the committed files
# were made, and deno fmt keeps a parameter list it once split, so the two
# steps give the same bytes again.
deno fmt --line-width 80 gen examples/kv/gen examples/counter/gen tests/interop/gen examples/terraform/gen >/dev/null 2>&1
deno fmt gen examples/kv/gen examples/counter/gen tests/interop/gen examples/terraform/gen >/dev/null 2>&1
