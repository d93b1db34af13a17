#!/usr/bin/env bash
# Builds OpenTofu's CLI from the Go module proxy, at the version go.mod here
# pins, into .cache/bin/tofu@<version>/tofu, and prints that path. A binary
# already there is kept. The flags are OpenTofu's release flags (its
# .goreleaser.yaml): static, trimmed, and `version.dev=no` so that
# `tofu version` says v1.12.6, not v1.12.6-dev. About 9 minutes on 2 cores
# the first time; Go's build cache makes a rebuild quick.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
version="$(sed -nE 's/^require github\.com\/opentofu\/opentofu (v[^ ]+)$/\1/p' "$here/go.mod")"
[ -n "$version" ] || { echo "no github.com/opentofu/opentofu requirement in $here/go.mod" >&2; exit 1; }
out="$root/.cache/bin/tofu@$version/tofu"
if [ ! -x "$out" ]; then
  mkdir -p "$(dirname "$out")"
  (cd "$here" && GOWORK=off CGO_ENABLED=0 go build -mod=readonly -trimpath \
    -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
    -o "$out.partial" github.com/opentofu/opentofu/cmd/tofu)
  mv "$out.partial" "$out"
fi
echo "$out"
