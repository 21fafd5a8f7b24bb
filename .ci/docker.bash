# shellcheck shell=bash
# Sourced by .ci/run (issue 15). Makes sure a Docker engine answers, so that
# `cargo xtask test` takes the testcontainers path and the outage test
# (crates/app/tests/outage.rs) can stop its own PostgreSQL.
#
# When no engine answers already, this starts a PRIVATE one: Debian's
# `docker.io` (installed if `dockerd` is missing), on its own socket, data
# root, exec root and pidfile, so it never disturbs another engine on the
# machine (nor the `cargo xtask test` of anyone using the default socket).
# It is stopped when the run ends (trap on EXIT). If it cannot start in time
# the run goes on without it: CI never fails because docker could not start;
# xtask then takes the local PostgreSQL path and says so.
#
# testcontainers 0.27 speaks Docker API 1.52 without negotiating, which
# Debian's engine (20.10, API 1.41) refuses; with such an engine the tests
# talk to it through .ci/docker-api-shim.py, which rewrites the version in
# each request line (see that file).
#
# After sourcing: CI_DOCKER=yes|no, and DOCKER_HOST exported when the private
# engine or the shim is the one in use.

CI_DOCKER_SOCK=/run/vodsnap-ci-docker.sock
CI_DOCKER_ROOT=/var/lib/vodsnap-ci-docker
CI_DOCKER_EXEC=/run/vodsnap-ci-docker
CI_DOCKER_PID=/run/vodsnap-ci-docker.pid
CI_DOCKER_LOG="${CI_DOCKER_LOG:-/tmp/vodsnap-ci-dockerd.log}"
CI_DOCKER_WAIT="${CI_DOCKER_WAIT:-60}" # seconds
# Overridable where /run is not writable (GitHub runners are not root).
CI_DOCKER_SHIM_SOCK="${CI_DOCKER_SHIM_SOCK:-/run/vodsnap-ci-docker-api.sock}"
# The API version testcontainers (bollard) sends: see xtask's Cargo.lock.
CI_DOCKER_CLIENT_API_MINOR=52
CI_DOCKER=no
CI_DOCKER_STARTED_PID=
CI_DOCKER_SHIM_PID=

ci_docker_answers() {
  timeout 10 docker info >/dev/null 2>&1
}

ci_docker_cleanup() {
  if [ -n "${CI_DOCKER_SHIM_PID}" ]; then
    kill -TERM "${CI_DOCKER_SHIM_PID}" 2>/dev/null || true
    CI_DOCKER_SHIM_PID=
    rm -f "${CI_DOCKER_SHIM_SOCK}"
  fi
  ci_docker_stop
}

ci_docker_stop() {
  [ -n "${CI_DOCKER_STARTED_PID}" ] || return 0
  echo "== stopping the private Docker engine (pid ${CI_DOCKER_STARTED_PID})"
  kill -TERM "${CI_DOCKER_STARTED_PID}" 2>/dev/null || true
  for _ in $(seq 30); do
    kill -0 "${CI_DOCKER_STARTED_PID}" 2>/dev/null || break
    sleep 1
  done
  kill -KILL "${CI_DOCKER_STARTED_PID}" 2>/dev/null || true
  CI_DOCKER_STARTED_PID=
}

ci_docker_start() {
  if ci_docker_answers; then
    echo "== docker: an engine answers already (${DOCKER_HOST:-default socket})"
    CI_DOCKER=yes
    return 0
  fi
  if [ -S "${CI_DOCKER_SOCK}" ] && DOCKER_HOST="unix://${CI_DOCKER_SOCK}" timeout 10 docker info >/dev/null 2>&1; then
    echo "== docker: the private engine of an earlier run answers at ${CI_DOCKER_SOCK}"
    export DOCKER_HOST="unix://${CI_DOCKER_SOCK}"
    CI_DOCKER=yes
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    echo "== docker: no engine installed: installing Debian's docker.io"
    apt-get update || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io || return 1
  fi
  # A dead engine of an earlier run may have left its pidfile and socket.
  if [ -f "${CI_DOCKER_PID}" ] && ! kill -0 "$(cat "${CI_DOCKER_PID}")" 2>/dev/null; then
    rm -f "${CI_DOCKER_PID}" "${CI_DOCKER_SOCK}"
  fi
  mkdir -p "${CI_DOCKER_ROOT}" "${CI_DOCKER_EXEC}"
  echo "== docker: starting a private dockerd on ${CI_DOCKER_SOCK} (log: ${CI_DOCKER_LOG})"
  # --bridge=none would break published ports; the default bridge is
  # docker0, shared with another engine if there is one, so a private bridge
  # name is not needed for testcontainers (it publishes ports on the host).
  dockerd \
    --host "unix://${CI_DOCKER_SOCK}" \
    --data-root "${CI_DOCKER_ROOT}" \
    --exec-root "${CI_DOCKER_EXEC}" \
    --pidfile "${CI_DOCKER_PID}" \
    >"${CI_DOCKER_LOG}" 2>&1 </dev/null &
  CI_DOCKER_STARTED_PID=$!
  trap ci_docker_cleanup EXIT
  export DOCKER_HOST="unix://${CI_DOCKER_SOCK}"
  local waited=0
  until ci_docker_answers; do
    if ! kill -0 "${CI_DOCKER_STARTED_PID}" 2>/dev/null; then
      echo "== docker: dockerd exited; end of its log:"
      tail -n 20 "${CI_DOCKER_LOG}" || true
      CI_DOCKER_STARTED_PID=
      unset DOCKER_HOST
      return 1
    fi
    if [ "${waited}" -ge "${CI_DOCKER_WAIT}" ]; then
      echo "== docker: the private engine did not answer within ${CI_DOCKER_WAIT}s; end of its log:"
      tail -n 20 "${CI_DOCKER_LOG}" || true
      ci_docker_stop
      unset DOCKER_HOST
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  echo "== docker: the private engine answers after ${waited}s ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  CI_DOCKER=yes
}

# When the engine's API is older than testcontainers', the shim in front.
ci_docker_shim() {
  local api minor engine
  api="$(timeout 10 docker version --format '{{.Server.APIVersion}}' 2>/dev/null || true)"
  minor="${api#1.}"
  case "${minor}" in
    '' | *[!0-9]*)
      echo "== docker: engine API version unknown (${api:-none}); no shim"
      return 0
      ;;
  esac
  if [ "${minor}" -ge "${CI_DOCKER_CLIENT_API_MINOR}" ]; then
    return 0
  fi
  case "${DOCKER_HOST:-}" in
    unix://*) engine="${DOCKER_HOST#unix://}" ;;
    '') engine=/var/run/docker.sock ;;
    *)
      echo "== docker: engine API ${api} over ${DOCKER_HOST}: no shim for TCP engines; testcontainers may refuse it"
      return 0
      ;;
  esac
  echo "== docker: engine API ${api} < 1.${CI_DOCKER_CLIENT_API_MINOR} (testcontainers): requests go through .ci/docker-api-shim.py at ${CI_DOCKER_SHIM_SOCK}"
  # A socket file left by an earlier run would answer nothing.
  rm -f "${CI_DOCKER_SHIM_SOCK}"
  python3 "$(dirname "${BASH_SOURCE[0]}")/docker-api-shim.py" \
    "${CI_DOCKER_SHIM_SOCK}" "${engine}" "${minor}" </dev/null >/tmp/vodsnap-ci-docker-shim.log 2>&1 &
  CI_DOCKER_SHIM_PID=$!
  trap ci_docker_cleanup EXIT
  export DOCKER_HOST="unix://${CI_DOCKER_SHIM_SOCK}"
  for _ in $(seq 30); do
    [ -S "${CI_DOCKER_SHIM_SOCK}" ] && ci_docker_answers && return 0
    kill -0 "${CI_DOCKER_SHIM_PID}" 2>/dev/null || break
    sleep 1
  done
  echo "== docker: the API shim does not answer; its log:"
  cat /tmp/vodsnap-ci-docker-shim.log || true
  return 1
}

if ! ci_docker_start || ! ci_docker_shim; then
  ci_docker_cleanup
  case "${DOCKER_HOST:-}" in
    "unix://${CI_DOCKER_SOCK}" | "unix://${CI_DOCKER_SHIM_SOCK}") unset DOCKER_HOST ;;
  esac
  echo "== docker: NO ENGINE. The tests fall back to the local PostgreSQL path;"
  echo "   the outage test (crates/app/tests/outage.rs) is skipped."
  CI_DOCKER=no
fi
