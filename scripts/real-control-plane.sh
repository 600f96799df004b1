#!/usr/bin/env bash
# A real Kubernetes control plane for kubectl-upgrade's tests: kube-apiserver,
# kube-controller-manager and kube-scheduler built from k8s.io/kubernetes, etcd from
# go.etcd.io/etcd/server/v3 and kwok (fake kubelets) from sigs.k8s.io/kwok, each in a Go module
# of its own under scripts/real-control-plane/ (versions in versions.env, go.sum committed).
#
#   scripts/real-control-plane.sh build
#       build (or reuse) every binary; the last stdout line is the bin directory
#   scripts/real-control-plane.sh up DIR [--bin BIN] [--version V] [--owner-pid PID] [--apiserver-arg A]...
#       start etcd, kube-apiserver (TLS; client-certificate and token users; RBAC),
#       kube-controller-manager (every controller), kube-scheduler and kwok on loopback ports
#       chosen free, state and logs in DIR; the last stdout line is the admin kubeconfig.
#       --version picks the Kubernetes release (default: KUBERNETES of versions.env);
#       --controllers LIST picks kube-controller-manager's controllers (default '*': all;
#       benchmarks that load objects by hand run fewer);
#       --owner-pid stops everything when that process ends (tests); --apiserver-arg passes
#       one more flag to kube-apiserver (e.g. --runtime-config=resource.k8s.io/v1beta1=true).
#   scripts/real-control-plane.sh apiserver DIR --version V [--name N] [--etcd-prefix P] [--port N]
#       start one more kube-apiserver on DIR's etcd (an HA instance, or with another
#       --etcd-prefix a separate cluster; --port reuses a stopped instance's port, so that the
#       controllers and kwok reconnect); the last stdout line is its admin kubeconfig
#   scripts/real-control-plane.sh stop DIR NAME
#       stop one process `up` or `apiserver` started (kube-apiserver, kube-apiserver-N, ...)
#   scripts/real-control-plane.sh down DIR
#       stop exactly the processes recorded in DIR
#   scripts/real-control-plane.sh pin
#       (maintainers) regenerate each module's go.mod and go.sum from versions.env
#
# Each failure is one line on stderr saying what to do, exit status 1.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODULES="$HERE/real-control-plane"
# shellcheck source=real-control-plane/versions.env
. "$MODULES/versions.env"
CACHE_ROOT="${KUBECTL_UPGRADE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-upgrade}/real-control-plane"
# Bumped when the way binaries are built changes (part of every cache key).
RECIPE=3

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

die() {
  echo "real-control-plane: $*" >&2
  exit 1
}

say() { echo "real-control-plane: $*" >&2; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH: $2"
}

# ----- building ------------------------------------------------------------------------------

check_go() {
  need go "install Go 1.26.8 or newer (the modules need go 1.26.0)"
  local v
  v="$(go env GOVERSION 2>/dev/null || true)"
  case "$v" in
    go1.2[6-9]* | go1.[3-9][0-9]* | go[2-9]*) ;;
    *) die "Go $v is too old: the modules need go 1.26.0 or newer (GOTOOLCHAIN=local: no download)" ;;
  esac
}

# Release directory name for a Kubernetes version: v1.37.2 -> kubernetes-v1.37.
k8s_module() {
  local minor
  minor="$(echo "$1" | sed -E 's/^(v[0-9]+\.[0-9]+)\..*/\1/')"
  echo "$MODULES/kubernetes-$minor"
}

# A cache key: the module's go.mod and go.sum, the recipe and what else is passed.
key_of() {
  local dir="$1"
  shift
  { cat "$dir/go.mod" "$dir/go.sum"; echo "$RECIPE $*"; } | sha256sum | cut -c1-16
}

# Run a go command in a module; on failure say the one line that matters and where the log is.
go_in() {
  local dir="$1" log="$2"
  shift 2
  if ! (cd "$dir" && "$@") >"$log" 2>&1; then
    local line
    line="$(grep -m1 -E 'proxy|404|410|not found|unknown revision|verifying|checksum|no such host|dial tcp' "$log" || true)"
    if [ -n "$line" ]; then
      die "the Go module proxy refused a module ($line); full log: $log"
    fi
    die "'$*' failed in $dir: $(grep -m1 -vE '^(go: downloading|#)' "$log" || tail -1 "$log"); full log: $log"
  fi
}

# The -ldflags of Kubernetes' own build: /version must say the release, not v0.0.0-master.
k8s_ldflags() {
  local v="$1" major minor
  major="$(echo "$v" | sed -E 's/^v([0-9]+)\..*/\1/')"
  minor="$(echo "$v" | sed -E 's/^v[0-9]+\.([0-9]+)\..*/\1/')"
  local flags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags="$flags -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    flags="$flags -X $p.gitTreeState=clean -X $p.gitCommit=0000000000000000000000000000000000000000"
    flags="$flags -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}

# build_one NAME MODULE_DIR LDFLAGS PACKAGE... : build into the cache unless there already;
# prints the directory holding the binaries.
build_one() {
  local name="$1" dir="$2" ldflags="$3"
  shift 3
  [ -f "$dir/go.mod" ] || die "$dir/go.mod missing: run '$0 pin'"
  local out="$CACHE_ROOT/$name-$(key_of "$dir" "$ldflags" "$*")"
  if [ -f "$out/.complete" ]; then
    say "$name: reusing $out"
    echo "$out"
    return
  fi
  mkdir -p "$CACHE_ROOT"
  local tmp="$out.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  say "$name: building $* (log: $CACHE_ROOT/$name.log)"
  local started=$SECONDS
  go_in "$dir" "$CACHE_ROOT/$name.log" go build -trimpath -ldflags "$ldflags" -o "$tmp/" "$@"
  say "$name: built in $((SECONDS - started))s"
  touch "$tmp/.complete"
  rm -rf "$out"
  mv "$tmp" "$out"
  echo "$out"
}

cmd_build() {
  check_go
  need sha256sum "install coreutils"
  local k8s_pkgs="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler"
  local new old etcd kwok
  # kubectl of the same release too: the benchmarks' peer (the machine's kubectl may be
  # several minors away from this server).
  # shellcheck disable=SC2086
  new="$(build_one "kubernetes-$KUBERNETES" "$(k8s_module "$KUBERNETES")" "$(k8s_ldflags "$KUBERNETES")" $k8s_pkgs k8s.io/kubernetes/cmd/kubectl)"
  # shellcheck disable=SC2086
  old="$(build_one "kubernetes-$KUBERNETES_OLD" "$(k8s_module "$KUBERNETES_OLD")" "$(k8s_ldflags "$KUBERNETES_OLD")" $k8s_pkgs)"
  local etcd_flags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=release"
  etcd="$(build_one "etcd-$ETCD" "$MODULES/etcd" "$etcd_flags" go.etcd.io/etcd/server/v3)"
  kwok="$(build_one "kwok-$KWOK" "$MODULES/kwok" "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK#v}" sigs.k8s.io/kwok/cmd/kwok)"
  # kwok's stages (node heartbeat with lease, pod ready/complete/delete) from its module.
  local kwok_src
  kwok_src="$(cd "$MODULES/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
  [ -d "$kwok_src/kustomize/stage" ] || die "kwok's stage definitions not found in $kwok_src"
  local bin="$CACHE_ROOT/bin-$(echo "$new $old $etcd $kwok $RECIPE" | sha256sum | cut -c1-16)"
  rm -rf "$bin"
  mkdir -p "$bin/$KUBERNETES" "$bin/$KUBERNETES_OLD" "$bin/kwok-stages"
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    ln -s "$new/$b" "$bin/$KUBERNETES/$b"
    ln -s "$old/$b" "$bin/$KUBERNETES_OLD/$b"
  done
  ln -s "$new/kubectl" "$bin/$KUBERNETES/kubectl"
  # `go build -o DIR/` names the binary after the package path (`v3` or `server`).
  local etcd_bin
  etcd_bin="$(find "$etcd" -maxdepth 1 -type f -perm -u+x | head -1)"
  [ -n "$etcd_bin" ] || die "no etcd binary in $etcd"
  ln -s "$etcd_bin" "$bin/etcd"
  ln -s "$kwok/kwok" "$bin/kwok"
  cp "$kwok_src/kustomize/stage/node/fast/node-initialize.yaml" \
    "$kwok_src/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
    "$kwok_src/kustomize/stage/pod/fast/pod-ready.yaml" \
    "$kwok_src/kustomize/stage/pod/fast/pod-complete.yaml" \
    "$kwok_src/kustomize/stage/pod/fast/pod-delete.yaml" "$bin/kwok-stages/"
  chmod -R u+w "$bin/kwok-stages"
  # A pod whose status a test sets itself (NotReady, Succeeded, ...) carries the annotation
  # kubectl-upgrade.test/status: kwok's stages leave it alone.
  for f in "$bin"/kwok-stages/pod-ready.yaml "$bin"/kwok-stages/pod-complete.yaml; do
    awk '{print} /^    matchExpressions:$/ && !done {print "    - key: '"'"'.metadata.annotations[\"kubectl-upgrade.test/status\"]'"'"'"; print "      operator: '"'"'DoesNotExist'"'"'"; done=1}' "$f" >"$f.new"
    mv "$f.new" "$f"
  done
  echo "$KUBERNETES" >"$bin/DEFAULT_VERSION"
  echo "$bin"
}

cmd_pin() {
  check_go
  pin_kubernetes "$KUBERNETES"
  pin_kubernetes "$KUBERNETES_OLD"
  pin_module "$MODULES/etcd" etcd go.etcd.io/etcd/server/v3 "$ETCD" go.etcd.io/etcd/server/v3
  pin_module "$MODULES/kwok" kwok sigs.k8s.io/kwok "$KWOK" sigs.k8s.io/kwok/cmd/kwok
}

# A module requiring k8s.io/kubernetes at $1, with one replace per staging module (derived
# from the release's own go.mod: k8s.io/kubernetes requires them at v0.0.0).
pin_kubernetes() {
  local v="$1" dir gomod staging
  dir="$(k8s_module "$v")"
  mkdir -p "$dir"
  gomod="$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')"
  [ -f "$gomod" ] || die "the Go module proxy does not serve k8s.io/kubernetes@$v"
  staging="v0.${v#v1.}"
  {
    echo "module kubectl-upgrade.test/real-control-plane/kubernetes"
    echo
    grep -E '^go [0-9]' "$gomod"
    grep -E '^godebug' "$gomod" || true
    echo
    echo "require k8s.io/kubernetes $v"
    echo
    echo "replace ("
    grep '=> ./staging' "$gomod" | awk -v s="$staging" '{print "\t" $1 " => " $1 " " s}'
    echo ")"
    echo
    echo "tool ("
    echo "	k8s.io/kubernetes/cmd/kube-apiserver"
    echo "	k8s.io/kubernetes/cmd/kube-controller-manager"
    echo "	k8s.io/kubernetes/cmd/kube-scheduler"
    echo "	k8s.io/kubernetes/cmd/kubectl"
    echo ")"
  } >"$dir/go.mod"
  rm -f "$dir/go.sum"
  go_in "$dir" "$dir/pin.log" env GOFLAGS=-mod=mod go mod tidy
  rm -f "$dir/pin.log"
  say "pinned $dir"
}

pin_module() {
  local dir="$1" name="$2" module="$3" v="$4" tool="$5"
  mkdir -p "$dir"
  printf 'module kubectl-upgrade.test/real-control-plane/%s\n\ngo 1.26.0\n\nrequire %s %s\n\ntool %s\n' \
    "$name" "$module" "$v" "$tool" >"$dir/go.mod"
  rm -f "$dir/go.sum"
  go_in "$dir" "$dir/pin.log" env GOFLAGS=-mod=mod go mod tidy
  rm -f "$dir/pin.log"
  say "pinned $dir"
}

# ----- running -------------------------------------------------------------------------------

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start NAME LOG COMMAND...: start a process in the background, record its pid in DIR/pids.
start() {
  local name="$1" log="$2"
  shift 2
  # The components talk to 127.0.0.1 only: no HTTP proxy of this machine's (a webhook or
  # aggregated API call would otherwise leave through it).
  env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy -u ALL_PROXY -u all_proxy \
    "$@" >"$log" 2>&1 &
  echo "$name $!" >>"$DIR/pids"
}

# wait_ready NAME LOG SECONDS CHECK...: until CHECK succeeds; a dead process or the time
# limit ends it with the log named.
wait_ready() {
  local name="$1" log="$2" limit="$3"
  shift 3
  local pid
  pid="$(awk -v n="$name" '$1 == n {print $2}' "$DIR/pids" | tail -1)"
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      die "$name exited before it was ready: $(tail -1 "$log"); log: $log"
    fi
    if [ $SECONDS -ge $deadline ]; then
      die "$name not ready after ${limit}s; log: $log"
    fi
    sleep 0.3
  done
}

pki() {
  local p="$DIR/pki"
  mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kubectl-upgrade-test-ca" \
    -keyout "$p/ca.key" -out "$p/ca.crt" >/dev/null 2>&1 || die "openssl could not make the CA"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$p/apiserver.key" \
    -out "$p/apiserver.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1\nextendedKeyUsage=serverAuth\n' >"$p/apiserver.ext"
  openssl x509 -req -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
    -days 3650 -extfile "$p/apiserver.ext" -out "$p/apiserver.crt" >/dev/null 2>&1 ||
    die "openssl could not sign the serving certificate"
  openssl genrsa -out "$p/sa.key" 2048 >/dev/null 2>&1
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" >/dev/null 2>&1
  client admin "/O=system:masters/CN=kubernetes-admin"
  client controller-manager "/CN=system:kube-controller-manager"
  client scheduler "/CN=system:kube-scheduler"
  client kwok "/O=system:masters/CN=kwok"
  # Token users for RBAC tests: no groups, no permission until a test binds a role.
  : >"$p/tokens.csv"
  for u in alice bob carol dave erin; do
    echo "token-$u-$(openssl rand -hex 8),$u,uid-$u" >>"$p/tokens.csv"
  done
}

client() {
  local p="$DIR/pki" name="$1" subj="$2"
  openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$p/$name.key" -out "$p/$name.csr" >/dev/null 2>&1
  printf 'extendedKeyUsage=clientAuth\n' >"$p/client.ext"
  openssl x509 -req -in "$p/$name.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
    -days 3650 -extfile "$p/client.ext" -out "$p/$name.crt" >/dev/null 2>&1 ||
    die "openssl could not sign the $name client certificate"
}

# kubeconfig FILE PORT CLIENT: a kubeconfig with a client certificate.
kubeconfig() {
  local file="$1" port="$2" name="$3" p="$DIR/pki"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: real
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority: $p/ca.crt
contexts:
- name: real
  context:
    cluster: real
    user: $name
current-context: real
users:
- name: $name
  user:
    client-certificate: $p/$name.crt
    client-key: $p/$name.key
EOF
}

# start_apiserver NAME BINDIR ETCD_PREFIX [PORT]: one kube-apiserver on DIR's etcd; prints
# its port (a free one unless given).
start_apiserver() {
  local name="$1" bin="$2" prefix="$3" p="$DIR/pki" port="${4:-}"
  [ -n "$port" ] || port="$(free_port)"
  port_free "$port" || die "port $port is taken"
  mkdir -p "$DIR/$name"
  # Flags after envtest's defaults (controller-runtime) and hack/local-up-cluster.sh.
  # --enable-aggregator-routing: webhooks (and aggregated APIs) are called at a ready
  # endpoint's address from the EndpointSlices, not through the Service's DNS name, which
  # has no resolver here (what many managed control planes do too).
  start "$name" "$DIR/logs/$name.log" "$bin/kube-apiserver" \
    --bind-address=127.0.0.1 --secure-port="$port" \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --etcd-servers="http://127.0.0.1:$(cat "$DIR/etcd.port")" --etcd-prefix="$prefix" \
    --cert-dir="$DIR/$name" --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" \
    --client-ca-file="$p/ca.crt" --token-auth-file="$p/tokens.csv" \
    --authorization-mode=RBAC --allow-privileged=true \
    --service-cluster-ip-range=10.0.0.0/24 \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
    --disable-admission-plugins=ServiceAccount \
    --enable-priority-and-fairness=true \
    --enable-aggregator-routing=true \
    --audit-policy-file="$DIR/audit-policy.yaml" --audit-log-path="$DIR/logs/audit-$name.log" \
    --audit-log-maxsize=200 --audit-log-format=json \
    "${APISERVER_ARGS[@]}"
  kubeconfig "$DIR/$name.kubeconfig" "$port" admin
  wait_ready "$name" "$DIR/logs/$name.log" 120 \
    curl -fsS --cacert "$p/ca.crt" --cert "$p/admin.crt" --key "$p/admin.key" \
    "https://127.0.0.1:$port/readyz"
  echo "$port"
}

APISERVER_ARGS=()

cmd_up() {
  DIR="$1"
  shift
  local bin="" version="" owner="" controllers='*'
  while [ $# -gt 0 ]; do
    case "$1" in
      --bin) bin="$2"; shift 2 ;;
      --version) version="$2"; shift 2 ;;
      --owner-pid) owner="$2"; shift 2 ;;
      --apiserver-arg) APISERVER_ARGS+=("$2"); shift 2 ;;
      --controllers) controllers="$2"; shift 2 ;;
      *) die "up: unknown argument $1" ;;
    esac
  done
  need openssl "install openssl (certificates for the test cluster)"
  need curl "install curl (readiness checks)"
  need python3 "install python3 (free port lookup)"
  if [ -z "$bin" ]; then
    bin="$(cmd_build | tail -1)"
  fi
  [ -x "$bin/etcd" ] || die "no etcd in $bin: run '$0 build'"
  version="${version:-$(cat "$bin/DEFAULT_VERSION")}"
  [ -x "$bin/$version/kube-apiserver" ] || die "no kube-apiserver $version in $bin (versions: $(ls -d "$bin"/v* | xargs -n1 basename | tr '\n' ' '))"
  mkdir -p "$DIR/logs"
  DIR="$(cd "$DIR" && pwd)"
  [ ! -s "$DIR/pids" ] || die "$DIR already runs a control plane: '$0 down $DIR' first"
  : >"$DIR/pids"
  pki
  # The audit log records what clients (tests' users, the admin) asked and were answered:
  # the RBAC tests read which rules a command exercised and whether any request was denied.
  cat >"$DIR/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["system:kube-controller-manager", "system:kube-scheduler", "kwok", "system:apiserver", "system:kube-proxy"]
- level: None
  userGroups: ["system:serviceaccounts", "system:nodes"]
- level: Metadata
EOF
  local etcd_port peer_port
  etcd_port="$(free_port)"
  peer_port="$(free_port)"
  echo "$etcd_port" >"$DIR/etcd.port"
  start etcd "$DIR/logs/etcd.log" "$bin/etcd" --data-dir="$DIR/etcd" --name=test \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-cluster="test=http://127.0.0.1:$peer_port" \
    --unsafe-no-fsync --quota-backend-bytes=8589934592 --log-level=warn
  wait_ready etcd "$DIR/logs/etcd.log" 60 curl -fsS "http://127.0.0.1:$etcd_port/health"
  local port
  port="$(start_apiserver kube-apiserver "$bin/$version" /registry)"
  cp "$DIR/kube-apiserver.kubeconfig" "$DIR/admin.kubeconfig"
  kubeconfig "$DIR/controller-manager.kubeconfig" "$port" controller-manager
  kubeconfig "$DIR/scheduler.kubeconfig" "$port" scheduler
  kubeconfig "$DIR/kwok.kubeconfig" "$port" kwok
  start kube-controller-manager "$DIR/logs/kube-controller-manager.log" "$bin/$version/kube-controller-manager" \
    --kubeconfig="$DIR/controller-manager.kubeconfig" --leader-elect=false \
    --use-service-account-credentials=true --service-account-private-key-file="$DIR/pki/sa.key" \
    --root-ca-file="$DIR/pki/ca.crt" --controllers="$controllers" --bind-address=127.0.0.1 --secure-port=0 \
    --node-monitor-grace-period=1h --concurrent-gc-syncs=5
  cat >"$DIR/scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $DIR/scheduler.kubeconfig
leaderElection:
  leaderElect: false
EOF
  start kube-scheduler "$DIR/logs/kube-scheduler.log" "$bin/$version/kube-scheduler" \
    --config="$DIR/scheduler.yaml" --bind-address=127.0.0.1 --secure-port=0
  start kwok "$DIR/logs/kwok.log" "$bin/kwok" --kubeconfig="$DIR/kwok.kubeconfig" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-lease-duration-seconds=40 --server-address=127.0.0.1:0 \
    $(for f in "$bin"/kwok-stages/*.yaml; do printf -- '--config=%s ' "$f"; done)
  # Ready when the controller-manager made the default namespace's ServiceAccount (its
  # controllers run) and the scheduler and kwok are still alive.
  local k=(curl -fsS --cacert "$DIR/pki/ca.crt" --cert "$DIR/pki/admin.crt" --key "$DIR/pki/admin.key")
  wait_ready kube-controller-manager "$DIR/logs/kube-controller-manager.log" 120 \
    "${k[@]}" "https://127.0.0.1:$port/api/v1/namespaces/default/serviceaccounts/default"
  wait_ready kube-scheduler "$DIR/logs/kube-scheduler.log" 60 \
    grep -q -i -E 'serving|Starting Kubernetes Scheduler|Attempting' "$DIR/logs/kube-scheduler.log"
  wait_ready kwok "$DIR/logs/kwok.log" 60 grep -q -i -E 'start|watch' "$DIR/logs/kwok.log"
  echo "$version" >"$DIR/version"
  echo "$bin" >"$DIR/bin"
  awk -F, '{print $2 " " $1}' "$DIR/pki/tokens.csv" >"$DIR/tokens"
  if [ -n "$owner" ]; then
    # Stop everything when the owner (a test process) ends, however it ends.
    (
      while kill -0 "$owner" 2>/dev/null; do sleep 1; done
      "$0" down "$DIR" >/dev/null 2>&1
    ) </dev/null >/dev/null 2>&1 &
    disown
  fi
  say "up: kube-apiserver $version at https://127.0.0.1:$port (logs in $DIR/logs)"
  echo "$DIR/admin.kubeconfig"
}

cmd_apiserver() {
  DIR="$(cd "$1" && pwd)"
  shift
  local version="" name="" prefix="/registry" port=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --version) version="$2"; shift 2 ;;
      --name) name="$2"; shift 2 ;;
      --port) port="$2"; shift 2 ;;
      --etcd-prefix) prefix="$2"; shift 2 ;;
      --apiserver-arg) APISERVER_ARGS+=("$2"); shift 2 ;;
      *) die "apiserver: unknown argument $1" ;;
    esac
  done
  [ -s "$DIR/pids" ] || die "$DIR runs no control plane: '$0 up $DIR' first"
  local bin
  bin="$(cat "$DIR/bin")"
  version="${version:-$(cat "$DIR/version")}"
  [ -x "$bin/$version/kube-apiserver" ] || die "no kube-apiserver $version in $bin"
  name="${name:-kube-apiserver-$(($(grep -c '^kube-apiserver' "$DIR/pids") + 1))}"
  start_apiserver "$name" "$bin/$version" "$prefix" "$port" >/dev/null
  say "apiserver: $name ($version) up"
  echo "$DIR/$name.kubeconfig"
}

stop_pid() {
  local pid="$1"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

cmd_stop() {
  DIR="$(cd "$1" && pwd)"
  local name="$2" pid
  pid="$(awk -v n="$name" '$1 == n {print $2}' "$DIR/pids" | tail -1)"
  [ -n "$pid" ] || die "no process named $name in $DIR/pids"
  stop_pid "$pid"
  awk -v n="$name" '$1 != n' "$DIR/pids" >"$DIR/pids.new" && mv "$DIR/pids.new" "$DIR/pids"
}

cmd_down() {
  DIR="$1"
  [ -f "$DIR/pids" ] || { say "down: nothing recorded in $DIR"; return 0; }
  # Newest first: kwok and the controllers before the apiservers, etcd last.
  tac "$DIR/pids" | while read -r name pid; do
    [ -n "$pid" ] && stop_pid "$pid"
  done
  : >"$DIR/pids"
  say "down: stopped what $DIR recorded"
}

case "${1:-}" in
  build) cmd_build ;;
  pin) cmd_pin ;;
  up) [ $# -ge 2 ] || die "usage: $0 up DIR [--bin BIN] [--version V] [--owner-pid PID]"; shift; cmd_up "$@" ;;
  apiserver) [ $# -ge 2 ] || die "usage: $0 apiserver DIR --version V [--name N] [--etcd-prefix P]"; shift; cmd_apiserver "$@" ;;
  stop) [ $# -eq 3 ] || die "usage: $0 stop DIR NAME"; cmd_stop "$2" "$3" ;;
  down) [ $# -eq 2 ] || die "usage: $0 down DIR"; cmd_down "$2" ;;
  *) die "usage: $0 build | up DIR [--bin BIN] [--version V] [--owner-pid PID] | apiserver DIR --version V | stop DIR NAME | down DIR | pin" ;;
esac
