#!/usr/bin/env bash
# Instructions per request of vodsnap and of the floor server, counted by
# callgrind (issue 12 part 2). Instruction counts do not depend on the
# machine's load, so two builds can be compared on a busy machine.
#
#   crates/bench/profile/callgrind.sh [REQUESTS]
#
# Needs: release binaries (`cargo build --release -p vodsnap-app -p
# vodsnap-bench`; add CARGO_PROFILE_RELEASE_DEBUG=line-tables-only for
# source lines in the profiles), valgrind, a PostgreSQL at DATABASE_URL
# (default postgres://postgres@127.0.0.1:5432/postgres), and the venv of
# `cargo xtask test` (.venv, for the SDK's signer). VODSNAP_BIN and
# FLOOR_BIN pick other binaries. Profiles are left in target/profile/ for
# `callgrind_annotate --inclusive=yes FILE`.
#
# One asset with three task results of ten snapshots; each server runs
# under valgrind with instrumentation off until 50 warm-up requests are
# done, then REQUESTS (default 2000) sequential requests on one keep-alive
# connection are counted. valgrind's CPU has no SHA extensions, so SHA-256
# (token, AK/SK and link signatures) runs in software here and costs more
# than on a CPU with SHA-NI.
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
requests=${1:-2000}
vodsnap=${VODSNAP_BIN:-$root/target/release/vodsnap}
floor=${FLOOR_BIN:-$root/target/release/vodsnap-floor}
python=$root/.venv/bin/python
admin_url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
out=$root/target/profile
db=vodsnap_profile_$$
url=${admin_url%/*}/$db
port=$((20000 + $$ % 20000))
key=profile-key-profile-key-profile-key-0123
ak=AKPROFILE
sk=SKPROFILESKPROFILESK
export VODSNAP_CREDENTIAL_KEYS=k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=

for tool in valgrind callgrind_annotate psql curl; do
    command -v "$tool" >/dev/null || { echo "callgrind.sh: $tool is missing" >&2; exit 1; }
done
mkdir -p "$out"
psql -q "$admin_url" -c "CREATE DATABASE $db"
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
}
trap cleanup EXIT

serve=("$vodsnap" serve --listen 127.0.0.1:$port --database-url "$url" --token-key "$key"
    --url-key "$key" --cleanup-workers 0 --webhook-workers 0 --storage memory://
    --seed-credential "$ak:$sk:p1")

wait_ready() {
    for _ in $(seq 1 600); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0
        sleep 0.2
    done
    echo "callgrind.sh: the server did not get ready" >&2
    exit 1
}

# The data, registered through the API by a server outside valgrind.
"${serve[@]}" >"$out/seed.log" 2>&1 &
server=$!
wait_ready
token=$("$vodsnap" token issue --project p1 --token-key "$key")
for t in 1 2 3; do
    body='{"asset_id": "a1", "task_id": "t'$t'", "thumbnail_para": {"type": "time", "time": 10}, "thumbnails": ['
    for i in $(seq 0 9); do
        body+='{"offset": '$((i * 10))', "object_key": "p1/a1/t'$t'/'$i'.jpg"}'
        [ "$i" -lt 9 ] && body+=', '
    done
    body+=']}'
    curl -sf -o /dev/null -X POST -H "X-Auth-Token: $token" -H 'Content-Type: application/json' \
        "http://127.0.0.1:$port/v1/p1/asset/thumbnails" -d "$body"
done
kill "$server"; wait "$server" 2>/dev/null || true; server=

# profile NAME AUTH... -- COMMAND...: Ir per request of each read.
profile() {
    local name=$1; shift
    local auth=()
    while [ "$1" != -- ]; do auth+=("$1"); shift; done
    shift
    for read in list details; do
        local target=/v1/p1/asset/thumbnails?asset_id=a1
        [ "$read" = details ] && target=/v1/p1/asset/thumbnail/details?task_id=t1
        local file=$out/$name.$read.callgrind
        rm -f "$file"*
        valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$file" "$@" \
            >"$out/$name.$read.log" 2>&1 &
        server=$!
        wait_ready
        "$python" "$root/crates/bench/profile/hammer.py" $port "$target" 50 "${auth[@]}"
        callgrind_control -i on "$server" >/dev/null 2>&1
        "$python" "$root/crates/bench/profile/hammer.py" $port "$target" "$requests" "${auth[@]}"
        callgrind_control -d "$server" >/dev/null 2>&1
        callgrind_control -i off "$server" >/dev/null 2>&1
        kill "$server"; wait "$server" 2>/dev/null || true; server=
        local total
        total=$(callgrind_annotate "$file.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
        printf '| %s | %s | %d |\n' "$read" "$name" $((total / requests))
    done
}

echo "| read | server | instructions per request |"
echo "| --- | --- | ---: |"
profile floor none -- "$floor" --listen 127.0.0.1:$port --database-url "$url" --database-max-connections 8
profile vodsnap-token token "$token" -- "${serve[@]}"
profile vodsnap-aksk aksk "$ak" "$sk" -- "${serve[@]}"
