# shellcheck shell=bash
#
# script/lib.sh - shared helpers for script/test and script/demo.
#
# Source it, don't run it:
#
#   . script/lib.sh
#   fior_setup                   # apt packages + check for cargo
#   fior_build                   # perl Makefile.PL (when needed) && make
#   fior_rust_tests              # cargo test of the Rust core
#   fior_start_servers DIR       # throw-away redis-servers on loopback,
#                                # exports FIOR_TEST_* (see below)
#   fior_start_demo_server DIR   # one plain server on a free port,
#                                # exports FIOR_DEMO_PORT
#   fior_stop_servers DIR        # stops whatever was started in DIR and
#                                # removes DIR (safe to call twice)
#
# The functions work with or without `set -e`: each returns non-zero on
# failure after printing why, except fior_setup, which exits when Rust is
# missing.
#
# Variables exported by fior_start_servers:
#
#   FIOR_TEST_HOST FIOR_TEST_PORT      plain server, 127.0.0.1:6379 (the seed
#                                      tests hard-code localhost:6379)
#   FIOR_TEST_IPV6=1                   only when the plain server answers on ::1
#   FIOR_TEST_SOCKET                   unix socket of the plain server
#   FIOR_TEST_AUTH_PORT FIOR_TEST_AUTH_PASSWORD
#   FIOR_TEST_ACL_USER FIOR_TEST_ACL_PASSWORD
#                                      requirepass + an ACL user (random passwords)
#   FIOR_TEST_TLS_PORT                 TLS only (no plain port); connect to
#                                      "localhost" (the certificate also names
#                                      127.0.0.1 and ::1)
#   FIOR_TEST_TLS_CA FIOR_TEST_TLS_WRONG_CA FIOR_TEST_TLS_CERT FIOR_TEST_TLS_KEY
#                                      CA, an unrelated CA, client cert and key
#   FIOR_TEST_STRICT=1                 tests must fail, not skip, when a server
#                                      they need is missing

FIOR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

FIOR_APT_PACKAGES=(
    redis-server redis-tools openssl make gcc
    libfuture-perl libfuture-asyncawait-perl libfuture-io-perl
    libio-async-perl libtest2-suite-perl
    libredis-fast-perl libredis-perl libanyevent-redis-perl
)
FIOR_MIN_RUST=1.88
FIOR_ACL_USER=fior-acl

fior__say() { printf 'fior: %s\n' "$*" >&2; }
fior__err() { printf 'fior: ERROR: %s\n' "$*" >&2; }

fior__as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        fior__err "need root (or sudo) to run: $*"
        return 1
    fi
}

# Runs a command with its output captured; shows the output only on failure.
fior__quietly() {
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ]; then
        printf '%s\n' "$out" >&2
        fior__err "command failed (exit $rc): $*"
    fi
    return "$rc"
}

fior__random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# ---------------------------------------------------------------- set-up --

fior_setup() {
    local p status missing=() fresh_redis=0
    if ! command -v dpkg-query >/dev/null 2>&1; then
        fior__err "dpkg-query not found: these scripts expect Debian (12 or later)"
        return 1
    fi
    for p in "${FIOR_APT_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        if [ "$status" != "install ok installed" ]; then
            missing+=("$p")
            if [ "$p" = redis-server ]; then fresh_redis=1; fi
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        fior__say "installing Debian packages: ${missing[*]}"
        fior__quietly fior__as_root apt-get update -q || return 1
        fior__quietly fior__as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}" || return 1
        if [ "$fresh_redis" = 1 ]; then fior__quiet_system_redis; fi
    fi

    if ! command -v cargo >/dev/null 2>&1 && [ -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
        export PATH="${HOME:-/root}/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        fior__err "Rust is required to build Future-IO-Redis, but cargo was not found" \
            "(looked on PATH and in ~/.cargo/bin). Install Rust >= $FIOR_MIN_RUST with rustup" \
            "(https://rustup.rs), then run this again."
        exit 1
    fi
    local have
    have=$(rustc --version 2>/dev/null | awk '{print $2}')
    if [ -n "$have" ] && ! fior__version_ge "$have" "$FIOR_MIN_RUST"; then
        fior__err "Rust $have is too old: Future-IO-Redis needs Rust >= $FIOR_MIN_RUST" \
            "(rustup update stable)."
        exit 1
    fi
    return 0
}

# fior__version_ge 1.95.0 1.88 -> true
fior__version_ge() {
    local IFS=.
    local -a a b
    read -r -a a <<<"${1%%-*}"
    read -r -a b <<<"$2"
    local i
    for i in 0 1 2; do
        if [ "${a[i]:-0}" -gt "${b[i]:-0}" ]; then return 0; fi
        if [ "${a[i]:-0}" -lt "${b[i]:-0}" ]; then return 1; fi
    done
    return 0
}

# Debian's redis-server package starts a system service on 127.0.0.1:6379
# as soon as it is installed. We install the package only for its binary, and
# the test run needs port 6379 for its own throw-away server, so undo that
# side effect - only right after we installed the package ourselves.
fior__quiet_system_redis() {
    if command -v systemctl >/dev/null 2>&1 &&
        systemctl is-active --quiet redis-server 2>/dev/null; then
        fior__say "stopping and disabling the redis-server system service that apt just started"
        fior__as_root systemctl disable --now redis-server >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/redis-server ] &&
        /etc/init.d/redis-server status >/dev/null 2>&1; then
        fior__say "stopping the redis-server system service that apt just started"
        fior__as_root /etc/init.d/redis-server stop >/dev/null 2>&1 || true
    fi
    return 0
}

# ----------------------------------------------------------------- build --

fior_build() {
    (
        cd "$FIOR_ROOT" || exit 1
        if [ ! -f Makefile.PL ]; then
            fior__err "no Makefile.PL in $FIOR_ROOT"
            exit 1
        fi
        log=$(mktemp "${TMPDIR:-/tmp}/fior-build.XXXXXX") || exit 1
        if [ ! -f Makefile ] || [ Makefile.PL -nt Makefile ]; then
            fior__say "configuring: perl Makefile.PL"
            if ! perl Makefile.PL >"$log" 2>&1; then
                cat "$log" >&2
                fior__err "perl Makefile.PL failed (log kept in $log)"
                exit 1
            fi
        fi
        if [ -d target/release ]; then
            fior__say "building: make"
        else
            fior__say "building: make (the first build compiles the Rust core: a few minutes)"
        fi
        if ! make >"$log" 2>&1; then
            tail -n 200 "$log" >&2
            fior__err "make failed (full log: $log)"
            exit 1
        fi
        rm -f "$log"
    )
}

# The Rust core's own unit tests (config, deadlines, backoff, encoding).
fior_rust_tests() {
    (
        cd "$FIOR_ROOT" || exit 1
        fior__say "Rust unit tests: cargo test --release --locked"
        cargo test --release --locked --quiet
    )
}

# --------------------------------------------------------------- servers --

# A free TCP port on 127.0.0.1, chosen by the kernel. Another process can
# still take it before redis binds it: callers retry on "Address in use".
fior__free_port() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1",
            LocalPort => 0, Proto => "tcp") or die "cannot pick a free port: $!\n";
        print $s->sockport, "\n";'
}

fior__port_busy() {
    perl -MIO::Socket::INET -e '
        exit(IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0],
            Proto => "tcp", Timeout => 1) ? 0 : 1)' "$1"
}

# True while PID exists and is not a zombie (a dead child we have not reaped
# yet still answers kill -0).
fior__alive() {
    local pid=$1 stat
    if [ -r "/proc/$pid/stat" ]; then
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
        stat=${stat##*) }
        case ${stat%% *} in Z | X | '') return 1 ;; esac
        return 0
    fi
    kill -0 "$pid" 2>/dev/null
}

# Guards against a recycled pid: only signal processes that are redis-server.
fior__is_redis() {
    local pid=$1
    if [ -r "/proc/$pid/cmdline" ]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q redis-server
    else
        kill -0 "$pid" 2>/dev/null
    fi
}

fior__show_failure() {
    local dir=$1 name=$2 f
    for f in "$dir/$name.out" "$dir/$name.log"; do
        if [ -s "$f" ]; then
            printf -- '--- tail of %s\n' "$f" >&2
            tail -n 25 "$f" >&2
        fi
    done
}

# fior__launch DIR NAME CONFIG-LINE...
# Writes DIR/NAME.conf and starts redis-server on it in the background
# (no daemonizing: we own the process), pid in DIR/NAME.pid. A config file
# rather than arguments keeps the passwords out of `ps`.
fior__launch() {
    local dir=$1 name=$2 line
    shift 2
    {
        printf '%s\n' "daemonize no" 'save ""' "appendonly no" \
            "dir \"$dir\"" "logfile \"$dir/$name.log\"" \
            "enable-debug-command local" "protected-mode yes"
        for line in "$@"; do printf '%s\n' "$line"; done
    } >"$dir/$name.conf"
    chmod 600 "$dir/$name.conf"
    : >"$dir/$name.log"
    redis-server "$dir/$name.conf" </dev/null >"$dir/$name.out" 2>&1 &
    echo $! >"$dir/$name.pid"
}

# fior__wait_ready DIR NAME CLI-FUNCTION PORT
# 0: the server answered, and it is the one we started (its INFO names our
# pid: after losing a port race we must not mistake another server for
# ours); 2: the server exited; 1: no answer within ~10 s.
fior__wait_ready() {
    local dir=$1 name=$2 cli=$3 port=$4 pid i out
    pid=$(cat "$dir/$name.pid")
    for ((i = 0; i < 200; i++)); do
        if ! fior__alive "$pid"; then
            wait "$pid" 2>/dev/null || true
            return 2
        fi
        out=$("$cli" "$port" info server 2>/dev/null || true)
        case $out in *"process_id:$pid"$'\r'*) return 0 ;; esac
        sleep 0.05
    done
    return 1
}

# fior__cli_KIND PORT COMMAND... : redis-cli against a server of that kind.
fior__cli_plain() {
    local port=$1
    shift
    timeout 3 redis-cli -h 127.0.0.1 -p "$port" "$@" </dev/null
}
fior__cli_auth() {
    local port=$1
    shift
    REDISCLI_AUTH=$FIOR_TEST_AUTH_PASSWORD timeout 3 redis-cli -h 127.0.0.1 -p "$port" "$@" </dev/null
}
fior__cli_tls() {
    local port=$1
    shift
    timeout 3 redis-cli --tls --cacert "$FIOR_TEST_TLS_CA" -h 127.0.0.1 -p "$port" "$@" </dev/null
}

# fior__start DIR NAME CLI-FUNCTION PORT|free CONFIG-LINE...
# CONFIG-LINEs may say @PORT@. With "free", picks a port and retries when
# someone else grabs it first. Sets FIOR__PORT.
fior__start() {
    local dir=$1 name=$2 cli=$3 want=$4 try port rc line
    shift 4
    local -a conf
    for try in 1 2 3 4 5; do
        if [ "$want" = free ]; then
            port=$(fior__free_port) || return 1
        else
            port=$want
        fi
        conf=()
        for line in "$@"; do conf+=("${line//@PORT@/$port}"); done
        fior__launch "$dir" "$name" "${conf[@]}" || return 1
        rc=0
        fior__wait_ready "$dir" "$name" "$cli" "$port" || rc=$?
        if [ "$rc" = 0 ]; then
            FIOR__PORT=$port
            return 0
        fi
        if [ "$rc" = 2 ] && [ "$want" = free ] &&
            grep -qi 'address already in use' "$dir/$name.log" "$dir/$name.out" 2>/dev/null; then
            fior__say "$name: port $port was taken meanwhile, trying another"
            continue
        fi
        fior__show_failure "$dir" "$name"
        if [ "$rc" = 2 ]; then
            fior__err "$name redis-server exited during start-up (config: $dir/$name.conf)"
            if grep -q 'Bad directive' "$dir/$name.out" 2>/dev/null; then
                fior__err "this redis-server does not understand its configuration;" \
                    "TLS needs a build with TLS support (Debian's redis-server has it)"
            fi
        else
            fior__err "$name redis-server on port $port did not answer within 10 s"
        fi
        return 1
    done
    fior__err "$name: could not find a free port after $try tries"
    return 1
}

# Marks DIR as ours, so fior_stop_servers may remove it.
fior__claim_dir() {
    local dir=$1
    mkdir -p "$dir" || return 1
    : >"$dir/.fior-servers"
}

fior__abs_dir() { (cd "$1" && pwd); }

# The Debian build links OpenSSL; a build without TLS would reject tls-port
# as a bad directive. With both ports 0 a TLS build exits at once with
# "Configured to not listen anywhere".
fior__check_tls() {
    local out
    out=$(timeout 5 redis-server --port 0 --tls-port 0 --save '' --appendonly no \
        --logfile '' </dev/null 2>&1 || true)
    case $out in
        *"not listen anywhere"*) return 0 ;;
    esac
    printf '%s\n' "$out" | tail -n 5 >&2
    fior__err "$(command -v redis-server) has no TLS support (it rejects --tls-port)"
    return 1
}

# Certificates for the TLS server, made afresh each run: a CA, an unrelated
# "wrong" CA, a server certificate for localhost / 127.0.0.1 / ::1 and a
# client certificate, all signed by the CA. P-256 keys (instant to make) in
# PKCS#8 PEM, X.509 v3 with the extensions strict verifiers (rustls) demand.
fior__make_certs() {
    local t=$1
    mkdir -p "$t" || return 1
    cat >"$t/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
[v3_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
    local -a key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    local ca
    for ca in ca wrong-ca; do
        fior__quietly openssl req -config "$t/openssl.cnf" -x509 -new "${key[@]}" \
            -keyout "$t/$ca.key" -out "$t/$ca.crt" -days 7 -extensions v3_ca \
            -subj "/O=Future-IO-Redis tests/CN=$ca" || return 1
    done
    local leaf cn
    for leaf in server client; do
        if [ "$leaf" = server ]; then cn=localhost; else cn=fior-test-client; fi
        fior__quietly openssl req -config "$t/openssl.cnf" -new "${key[@]}" \
            -keyout "$t/$leaf.key" -out "$t/$leaf.csr" \
            -subj "/O=Future-IO-Redis tests/CN=$cn" || return 1
        fior__quietly openssl x509 -req -in "$t/$leaf.csr" -CA "$t/ca.crt" \
            -CAkey "$t/ca.key" -CAcreateserial -CAserial "$t/ca.srl" -days 7 \
            -extfile "$t/openssl.cnf" -extensions "v3_$leaf" -out "$t/$leaf.crt" || return 1
    done
    chmod 600 "$t"/*.key
}

fior_start_servers() {
    local dir=${1:?usage: fior_start_servers DIR}
    local t0=$EPOCHREALTIME
    fior__claim_dir "$dir" || return 1
    dir=$(fior__abs_dir "$dir") || return 1
    unset FIOR_TEST_IPV6

    # -- a. plain, 127.0.0.1:6379 (+ ::1 when available) + unix socket
    local sock="$dir/redis.sock"
    if [ "${#sock}" -gt 100 ]; then
        fior__err "unix socket path too long (${#sock} > 100 bytes): $sock; use a shorter DIR"
        return 1
    fi
    if fior__port_busy 6379; then
        fior__err "127.0.0.1:6379 is already in use. The test suite needs its own throw-away" \
            "server there (the seed tests hard-code localhost:6379) and will not use" \
            "someone else's. Stop the other server first (Debian's service:" \
            "systemctl stop redis-server)."
        if command -v ss >/dev/null 2>&1; then ss -ltnp 'sport = :6379' >&2 || true; fi
        return 1
    fi
    # "-::1": bind ::1 when the kernel has it, without failing when it hasn't.
    fior__start "$dir" plain fior__cli_plain 6379 \
        "port 6379" "bind 127.0.0.1 -::1" \
        "unixsocket \"$sock\"" "unixsocketperm 700" || return 1
    export FIOR_TEST_HOST=127.0.0.1 FIOR_TEST_PORT=6379 FIOR_TEST_SOCKET=$sock
    if [ "$(timeout 3 redis-cli -h ::1 -p 6379 ping </dev/null 2>/dev/null)" = PONG ]; then
        export FIOR_TEST_IPV6=1
    fi
    if [ "$(timeout 3 redis-cli -s "$sock" ping </dev/null 2>/dev/null)" != PONG ]; then
        fior__show_failure "$dir" plain
        fior__err "plain server does not answer on its unix socket $sock"
        return 1
    fi

    # -- b. password + ACL user
    export FIOR_TEST_AUTH_PASSWORD FIOR_TEST_ACL_USER=$FIOR_ACL_USER FIOR_TEST_ACL_PASSWORD
    FIOR_TEST_AUTH_PASSWORD=$(fior__random_hex)
    FIOR_TEST_ACL_PASSWORD=$(fior__random_hex)
    fior__start "$dir" auth fior__cli_auth free \
        "port @PORT@" "bind 127.0.0.1 -::1" \
        "requirepass $FIOR_TEST_AUTH_PASSWORD" \
        "user $FIOR_TEST_ACL_USER on >$FIOR_TEST_ACL_PASSWORD ~* &* +@all" || return 1
    export FIOR_TEST_AUTH_PORT=$FIOR__PORT

    # -- c. TLS only
    fior__check_tls || return 1
    local t="$dir/tls"
    fior__make_certs "$t" || return 1
    export FIOR_TEST_TLS_CA="$t/ca.crt" FIOR_TEST_TLS_WRONG_CA="$t/wrong-ca.crt" \
        FIOR_TEST_TLS_CERT="$t/client.crt" FIOR_TEST_TLS_KEY="$t/client.key"
    fior__start "$dir" tls fior__cli_tls free \
        "port 0" "tls-port @PORT@" "bind 127.0.0.1 -::1" \
        "tls-cert-file \"$t/server.crt\"" "tls-key-file \"$t/server.key\"" \
        "tls-ca-cert-file \"$t/ca.crt\"" "tls-auth-clients optional" || return 1
    export FIOR_TEST_TLS_PORT=$FIOR__PORT

    export FIOR_TEST_STRICT=1
    local took
    took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    fior__say "servers ready in ${took}s: plain 127.0.0.1:6379$(
        if [ -n "${FIOR_TEST_IPV6:-}" ]; then printf ' + [::1]:6379'; fi
    ) + $sock, auth 127.0.0.1:$FIOR_TEST_AUTH_PORT, tls localhost:$FIOR_TEST_TLS_PORT"
    return 0
}

fior_start_demo_server() {
    local dir=${1:?usage: fior_start_demo_server DIR}
    fior__claim_dir "$dir" || return 1
    dir=$(fior__abs_dir "$dir") || return 1
    fior__start "$dir" demo fior__cli_plain free \
        "port @PORT@" "bind 127.0.0.1 -::1" || return 1
    export FIOR_DEMO_PORT=$FIOR__PORT
}

fior_stop_servers() {
    local dir=${1:-} f pid i
    local -a pids=()
    if [ -z "$dir" ] || [ ! -d "$dir" ]; then return 0; fi
    for f in "$dir"/*.pid; do
        if [ ! -f "$f" ]; then continue; fi
        pid=$(cat "$f" 2>/dev/null) || continue
        rm -f "$f"
        if [ -n "$pid" ] && fior__alive "$pid" && fior__is_redis "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    for ((i = 0; i < 50; i++)); do
        local left=0
        for pid in "${pids[@]}"; do
            if fior__alive "$pid"; then left=1; fi
        done
        if [ "$left" = 0 ]; then break; fi
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        if fior__alive "$pid"; then
            fior__say "redis-server $pid ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        # Reap it if it is our child (a no-op otherwise).
        wait "$pid" 2>/dev/null || true
    done
    # Remove DIR only when fior_start_*_server made it ours (or it is empty).
    if [ -e "$dir/.fior-servers" ]; then
        rm -rf "$dir"
    else
        rmdir "$dir" 2>/dev/null || true
    fi
    return 0
}
