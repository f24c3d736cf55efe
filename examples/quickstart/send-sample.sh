#!/usr/bin/env bash
# Post a sample Harbor "image pushed" webhook to the quickstart receiver started by `make run`.
# Exits 0 once Bumper accepted it (HTTP 202), 1 if it was refused or nothing answered in time.
#   TAG=1.2.3 examples/quickstart/send-sample.sh   # default: 1.0.<unix time>, always newer
#   BUMPER_RUN__PORT=9090 examples/quickstart/send-sample.sh   # if make run was started so
#   (the old PORT is read too, for one release)
set -euo pipefail
cd "$(dirname "$0")/../.."
port="${BUMPER_RUN__PORT:-${PORT:-8080}}"
tag="${TAG:-1.0.$(date +%s)}"
secret_file=".quickstart/webhook-secret"
url="http://127.0.0.1:${port}/hooks/quickstart"
image="registry.example.com/quickstart/hello"
for _ in $(seq 1 60); do [ -s "$secret_file" ] && break; sleep 0.5; done
[ -s "$secret_file" ] || { echo "no $secret_file: is 'make run' running?" >&2; exit 1; }
body=$(cat <<JSON
{"type": "PUSH_ARTIFACT", "occur_at": $(date +%s), "operator": "quickstart",
 "event_data": {
   "resources": [{"tag": "${tag}", "resource_url": "${image}:${tag}"}],
   "repository": {"name": "hello", "namespace": "quickstart",
                  "repo_full_name": "quickstart/hello", "repo_type": "private"}}}
JSON
)
for _ in $(seq 1 60); do
  status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url" \
    -H "Authorization: Bearer $(cat "$secret_file")" \
    -H 'Content-Type: application/json' --data-binary "$body" || true)
  case "$status" in
    200|202) echo "accepted ($status): ${image}:${tag}"
             echo "see the commit: git -C .quickstart/config-repo log -1 -p"; exit 0 ;;
    000|502|503) sleep 0.5 ;;  # not up yet, or Redis still starting
    *) echo "refused with HTTP $status" >&2; exit 1 ;;
  esac
done
echo "nothing answered on $url" >&2
exit 1
