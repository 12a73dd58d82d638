#!/usr/bin/env bash
# Deliver a signed GitHub `workflow_run` webhook for commit SHA to the local plane, as GitHub would.
#
#   docs/examples/local-webhook-delivery.sh SHA
#
# Reads the webhook URL and secret from the running plane's state file ($PROMOTE_STATE_DIR/local.json, else
# .promote/local.json), puts SHA into docs/examples/workflow_run.sentiment-service.json (a completed,
# successful push build of example-org/sentiment-service on main, where 40 zeros stand for the commit), signs
# the exact bytes it sends with HMAC-SHA256 and prints the webhook's answer.
set -euo pipefail

sha=${1:?usage: $0 SHA (the full 40-character commit SHA)}
here=$(cd "$(dirname "$0")" && pwd)
state=${PROMOTE_STATE_DIR:-.promote}/local.json
[ -f "$state" ] || { echo "$0: no $state: run 'promote local up' first" >&2; exit 2; }
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$state" "$1"; }
webhook_url=$(field webhook_url)
webhook_secret=$(field webhook_secret)

payload=$(mktemp)
trap 'rm -f "$payload"' EXIT
sed "s/0000000000000000000000000000000000000000/$sha/g" "$here/workflow_run.sentiment-service.json" > "$payload"
signature="sha256=$(openssl dgst -sha256 -hmac "$webhook_secret" -hex < "$payload" | awk '{print $NF}')"
# GitHub sends a fresh GUID per delivery; the control plane ignores a delivery id it has seen.
delivery=$(python3 -c 'import uuid; print(uuid.uuid4())')

curl --silent --show-error --fail-with-body -X POST "$webhook_url" \
  -H 'content-type: application/json' -H 'x-github-event: workflow_run' \
  -H "x-github-delivery: $delivery" -H "x-hub-signature-256: $signature" \
  --data-binary @"$payload"
echo
