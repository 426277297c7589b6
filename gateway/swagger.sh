#!/bin/sh
# Regenerates the OpenAPI document in docs/ from the swag annotations in
# httpapi/. Deterministic: running it twice gives identical files.
# SWAG overrides the swag binary (v1.16.6); default: the repository's .bin.
set -eu
cd "$(dirname "$0")"
SWAG="${SWAG:-../.bin/swag}"
exec "$SWAG" init --quiet -g router.go -d ./httpapi -o docs --parseDependency=false
