#!/bin/sh
# Regenerates the OpenAPI document docs/swagger.json from the swag
# annotations in httpapi/, then completes it with what swag cannot express
# (cmd/swagfinish: patterns, closed request bodies). Deterministic: running
# it twice gives identical files. docs/docs.go, which serves the document,
# is written by hand.
# SWAG overrides the swag binary (v1.16.6); default: the repository's .bin.
set -eu
cd "$(dirname "$0")"
SWAG="${SWAG:-../.bin/swag}"
"$SWAG" init --quiet -g router.go -d ./httpapi -o docs --outputTypes json --parseDependency=false
go run ./cmd/swagfinish docs/swagger.json
