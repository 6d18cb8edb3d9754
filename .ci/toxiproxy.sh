#!/usr/bin/env bash
# Start and stop a real Toxiproxy 2.12.0 server on 127.0.0.1 for the differential tests.
#
# Usage (sourced, so TOXIPROXY_URL lands in the caller's environment):
#
#     source .ci/toxiproxy.sh
#     toxiproxy_start          # installs the server if missing, starts it, exports TOXIPROXY_URL
#                              # (and TOXIPROXY_SERVER, the binary it used)
#     pytest ...
#     toxiproxy_stop           # also runs on shell exit (chained onto any existing EXIT trap)
#
# Or executed, wrapping one command:  bash .ci/toxiproxy.sh run -- pytest tests/faults/test_faults_diff_toxics.py
#
# Knobs: TOXIPROXY_SERVER (path to the binary), TOXIPROXY_VERSION (default v2.12.0),
#        TOXIPROXY_LOG (server log file, default a temp file), TOXIPROXY_START_TIMEOUT (seconds, default 20).
# The API listens on loopback only: a fault proxy on every interface of a CI machine would be a hole.

TOXIPROXY_VERSION="${TOXIPROXY_VERSION:-v2.12.0}"
TOXIPROXY_PID="${TOXIPROXY_PID:-}"

_toxiproxy_log() { printf 'toxiproxy.sh: %s\n' "$*" >&2; }

# True when $1 is an executable Toxiproxy server (a bare `server` on PATH could be anything).
_toxiproxy_is_server() {
    [ -n "$1" ] && [ -x "$1" ] && "$1" -version 2>&1 | grep -q '^toxiproxy-server version'
}

# The go command, also when it is installed but not on PATH (the official tarball's location).
_toxiproxy_go() {
    if command -v go >/dev/null 2>&1; then
        command -v go
    elif [ -x /usr/local/go/bin/go ]; then
        printf '%s\n' /usr/local/go/bin/go
    else
        return 1
    fi
}

# Print the path of the server binary, installing it with `go install` when none is found.
toxiproxy_find_server() {
    local candidate gobin go_cmd
    for candidate in "${TOXIPROXY_SERVER:-}" "$(command -v toxiproxy-server 2>/dev/null || true)" \
        "$(command -v server 2>/dev/null || true)" "${GOBIN:-}/server" "${GOPATH:-$HOME/go}/bin/server"; do
        if _toxiproxy_is_server "$candidate"; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    if go_cmd="$(_toxiproxy_go)"; then
        gobin="$("$go_cmd" env GOBIN)"
        [ -n "$gobin" ] || gobin="$("$go_cmd" env GOPATH)/bin"
        if _toxiproxy_is_server "$gobin/server"; then
            printf '%s\n' "$gobin/server"
            return 0
        fi
        _toxiproxy_log "installing github.com/Shopify/toxiproxy/v2/cmd/server@${TOXIPROXY_VERSION} into $gobin"
        if "$go_cmd" install "github.com/Shopify/toxiproxy/v2/cmd/server@${TOXIPROXY_VERSION}" >&2 \
            && _toxiproxy_is_server "$gobin/server"; then
            printf '%s\n' "$gobin/server"
            return 0
        fi
        _toxiproxy_log "go install of the Toxiproxy server failed"
        return 1
    fi
    _toxiproxy_log "no Toxiproxy server found and no Go toolchain to install one (set TOXIPROXY_SERVER)"
    return 1
}

# Print a currently free TCP port on 127.0.0.1 (the kernel picks it; toxiproxy_start retries on a race).
_toxiproxy_free_port() {
    local py
    py="$(command -v python3 || command -v python)" || return 1
    "$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

_toxiproxy_version_answers() {
    curl --silent --fail --max-time 1 --noproxy '*' "$1/version" >/dev/null 2>&1
}

toxiproxy_start() {
    local server port url attempt deadline log
    if [ -n "$TOXIPROXY_PID" ] && kill -0 "$TOXIPROXY_PID" 2>/dev/null; then
        _toxiproxy_log "already running (pid $TOXIPROXY_PID) at ${TOXIPROXY_URL:-?}"
        return 0
    fi
    server="$(toxiproxy_find_server)" || return 1
    log="${TOXIPROXY_LOG:-$(mktemp "${TMPDIR:-/tmp}/toxiproxy.XXXXXX.log")}"
    for attempt in 1 2 3 4 5; do
        port="$(_toxiproxy_free_port)" || { _toxiproxy_log "cannot pick a free port (no python3)"; return 1; }
        url="http://127.0.0.1:$port"
        "$server" -host 127.0.0.1 -port "$port" >>"$log" 2>&1 &
        TOXIPROXY_PID=$!
        deadline=$((SECONDS + ${TOXIPROXY_START_TIMEOUT:-20}))
        while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$TOXIPROXY_PID" 2>/dev/null; do
            if _toxiproxy_version_answers "$url"; then
                # TOXIPROXY_SERVER lets tests start private servers from the same binary.
                export TOXIPROXY_URL="$url" TOXIPROXY_PID TOXIPROXY_LOG="$log" TOXIPROXY_SERVER="$server"
                _toxiproxy_log "server pid $TOXIPROXY_PID answering at $url (log: $log)"
                printf 'TOXIPROXY_URL=%s\n' "$url"
                _toxiproxy_install_exit_trap
                return 0
            fi
            sleep 0.1
        done
        # Either it exited (the port was taken between picking and binding) or it never answered.
        kill "$TOXIPROXY_PID" 2>/dev/null || true
        wait "$TOXIPROXY_PID" 2>/dev/null || true
        _toxiproxy_log "attempt $attempt on port $port failed; last log lines:"
        tail -n 5 "$log" >&2
        TOXIPROXY_PID=""
    done
    _toxiproxy_log "could not start the Toxiproxy server"
    return 1
}

toxiproxy_stop() {
    local waited=0
    if [ -z "$TOXIPROXY_PID" ]; then
        return 0
    fi
    if kill -0 "$TOXIPROXY_PID" 2>/dev/null; then
        kill -TERM "$TOXIPROXY_PID" 2>/dev/null || true
        while kill -0 "$TOXIPROXY_PID" 2>/dev/null && [ "$waited" -lt 50 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        kill -KILL "$TOXIPROXY_PID" 2>/dev/null || true
        wait "$TOXIPROXY_PID" 2>/dev/null || true
        _toxiproxy_log "server pid $TOXIPROXY_PID stopped"
    fi
    TOXIPROXY_PID=""
    unset TOXIPROXY_URL
}

# Chain toxiproxy_stop onto the caller's EXIT trap instead of replacing it.
_toxiproxy_install_exit_trap() {
    local existing
    existing="$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")"
    case "$existing" in
        *toxiproxy_stop*) ;;
        "") trap 'toxiproxy_stop' EXIT ;;
        *) trap "toxiproxy_stop; $existing" EXIT ;;
    esac
}

# Executed rather than sourced: `bash .ci/toxiproxy.sh run -- CMD...` or `bash .ci/toxiproxy.sh install`.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        run)
            shift
            [ "${1:-}" = "--" ] && shift
            toxiproxy_start || exit 1
            "$@"
            status=$?
            toxiproxy_stop
            exit "$status"
            ;;
        install)
            toxiproxy_find_server
            ;;
        *)
            printf 'usage: source %s; toxiproxy_start; ...; toxiproxy_stop\n   or: bash %s run -- CMD [ARGS...]\n   or: bash %s install\n' "$0" "$0" "$0" >&2
            exit 2
            ;;
    esac
fi
