#!/usr/bin/env bash
# A real Kubernetes node for the test bed: containerd + runc + CNI (Debian) and the kubelet and
# kube-proxy built by testbed/build.sh, all inside their own network namespace.
#
# The host is shared with other people's tests, so the node keeps to itself:
#  - its own network namespace ($NETNS), entered with `nsenter --net`; the host only gains the
#    veth's host end ($HOST_IP/24 on $HOST_IF) and its connected route. Nothing else in the host's
#    routing or iptables changes: kube-proxy's and CNI's rules live in the node's namespace.
#  - containerd's root, state and sockets, the kubelet's root dir, CNI config: under $STATE and
#    $CROOT, never /var/lib/containerd or /var/lib/kubelet.
#  - the host's 127.0.0.1 listeners (API server, registries) are reached through socat forwarders
#    bound to $HOST_IP only.
#  - the kubelet sets global sysctls (kernel.panic & co.): their values are saved at the first
#    start and restored by `stop`, which also kills every container, unmounts, and removes the
#    cgroups, pod network namespaces, veth and netns that the node made.
#  - `host-state` prints what of the host the node could touch: the host namespace's iptables
#    and ip6tables rules (iptables-save without counters), the global sysctls above and the
#    netfilter/bridge ones, and the loaded kernel modules. `start` saves it before it changes
#    anything and `stop` compares after restoring, with a warning naming what differs
#    (tests/testbed/test_node.py asserts they are equal).
#
# Usage: testbed/node.sh prepare          install Debian packages, build binaries and images
#        testbed/node.sh start            start (idempotent: a running node is left alone)
#        testbed/node.sh forward PORT     let the node pull from a registry on 127.0.0.1:PORT
#                                         (as localhost:PORT, plain HTTP)
#        testbed/node.sh stop             tear down, restore everything (idempotent)
#        testbed/node.sh status           exit 0 when running
#        testbed/node.sh host-state       print the host settings the node could change
# Env for start:
#   BUMPER_NODE_KUBECONFIG   kubelet's kubeconfig (required); its server must be
#                            https://$HOST_IP:<port>, where <port> = the API server's loopback port
#   BUMPER_NODE_PROXY_KUBECONFIG  kube-proxy's (default: the kubelet's)
#   BUMPER_NODE_CA           the cluster CA (client CA for the kubelet's own API)
#   BUMPER_NODE_APISERVER_PORT  the API server's port on 127.0.0.1 (forwarded on $HOST_IP)
#   BUMPER_NODE_NAME (bumper-node), BUMPER_NODE_SUBNET (10.213.77: the veth /24),
#   BUMPER_NODE_POD_CIDR (10.244.77.0/24), BUMPER_NODE_DNS (10.96.0.10)
#   BUMPER_NODE_TAINT (bumper.dev/real-node=true:NoSchedule): registered with the Node, so only
#                            pods that tolerate it land here (the kwok-only tests' pods never do:
#                            their images, registry.test/..., cannot be pulled by a real node)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$(bash "$HERE/build.sh" --bin-dir)"
ROOT="$(dirname "$BIN")"
NODE_NAME="${BUMPER_NODE_NAME:-bumper-node}"
SUBNET="${BUMPER_NODE_SUBNET:-10.213.77}"
HOST_IP="$SUBNET.1"
NODE_IP="$SUBNET.2"
POD_CIDR="${BUMPER_NODE_POD_CIDR:-10.244.77.0/24}"
CLUSTER_DNS="${BUMPER_NODE_DNS:-10.96.0.10}"
NODE_TAINT="${BUMPER_NODE_TAINT:-bumper.dev/real-node=true:NoSchedule}"
NETNS=bumper-node
HOST_IF=bnode0
STATE=/run/bumper-node           # tmpfs: gone at reboot, like everything the node runs
CROOT="$ROOT/node/containerd"    # images and snapshots survive restarts (a warm start pulls nothing)
IMAGES="$ROOT/node/images"
SOCK="$STATE/containerd/containerd.sock"
PAUSE_REF="bumper.local/testbed/pause:1"
# The cluster DNS (the fixture deploys it as kube-dns); imported at start, never pulled.
COREDNS_REF="bumper.local/testbed/coredns:1"
# The sysctls the kubelet sets when protectKernelDefaults is false (pkg/kubelet/cm:
# setupKernelTunables). They are global, not per network namespace.
SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
kernel.keys.root_maxkeys kernel.keys.root_maxbytes"
# Global ones kube-proxy and CNI could reach from the node's namespace (conntrack's table size,
# br_netfilter's switches) and the host namespace's forwarding: saved and restored the same way.
NET_SYSCTLS="net.netfilter.nf_conntrack_max net.bridge.bridge-nf-call-iptables
net.bridge.bridge-nf-call-ip6tables net.ipv4.ip_forward net.ipv4.conf.all.route_localnet"
PACKAGES="containerd runc containernetworking-plugins iptables iproute2 conntrack socat util-linux"

die() { echo "testbed-node: ERROR: $*" >&2; exit 1; }
say() { echo "testbed-node: $*" >&2; }
innet() { nsenter --net="/run/netns/$NETNS" "$@"; }
ctr_() { innet ctr --address "$SOCK" --namespace k8s.io "$@"; }

alive() {  # $1 = name; true when $STATE/$1.pid names a live process
  local pid
  pid="$(cat "$STATE/$1.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

install_packages() {
  local missing=() p
  for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} (apt-get)"
  # Debian's containerd enables a systemd unit; the node never uses it (own config and sockets).
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 \
         && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; } \
    || die "apt-get install ${missing[*]} failed"
}

images_stamp() {  # what decides the image tars: the binaries' build stamps, the writer, the refs
  cat "$BIN/.pause.stamp" "$BIN/.hello.stamp" "$BIN/.coredns.stamp" "$HERE/ociimage.py" \
    | sha256sum | cut -c1-16
  echo "$PAUSE_REF $COREDNS_REF"
}

build_images() {  # OCI layouts + tars from the static binaries, rewritten when their stamp moves
  # Gzipping CoreDNS's 55 MB takes tens of seconds on a busy machine: never on a cache hit.
  [ "$(cat "$IMAGES/.stamp" 2>/dev/null)" = "$(images_stamp)" ] && return 0
  mkdir -p "$IMAGES"
  python3 "$HERE/ociimage.py" "$BIN/pause" "$IMAGES/pause" "$PAUSE_REF" \
    --tar "$IMAGES/pause.tar" >/dev/null
  python3 "$HERE/ociimage.py" "$BIN/hello" "$IMAGES/hello" "bumper.local/testbed/hello:1" \
    --tar "$IMAGES/hello.tar" >/dev/null
  python3 "$HERE/ociimage.py" "$BIN/coredns" "$IMAGES/coredns" "$COREDNS_REF" \
    --tar "$IMAGES/coredns.tar" >/dev/null
  images_stamp >"$IMAGES/.stamp"
}

import_image() {  # $1 = layout name, $2 = ref: into the node's containerd unless already there
  local digest
  digest="$(grep -o '"digest":"sha256:[0-9a-f]*"' "$IMAGES/$1/index.json" | head -n1 | cut -d'"' -f4)"
  # containerd's images survive restarts ($CROOT): re-importing would re-read the whole tar.
  ctr_ images ls "name==$2" 2>/dev/null | grep -qF "$digest" && return 0
  ctr_ images import --all-platforms "$IMAGES/$1.tar" >/dev/null
}

cmd_prepare() {
  install_packages
  bash "$HERE/build.sh" >/dev/null
  build_images
}

setup_network() {
  if [ ! -e "/run/netns/$NETNS" ]; then
    ip netns add "$NETNS"
  fi
  if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
    ip link add "$HOST_IF" type veth peer name eth0 netns "$NETNS"
    ip addr add "$HOST_IP/24" dev "$HOST_IF"
    ip link set "$HOST_IF" up
    innet ip addr add "$NODE_IP/24" dev eth0
    innet ip link set eth0 up
    innet ip link set lo up
    innet ip route add default via "$HOST_IP"
  fi
  # Per-namespace sysctls: only the node's namespace changes.
  innet sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.route_localnet=1
}

sysctl_file() { echo "/proc/sys/${1//.//}"; }

save_sysctls() {  # once per node lifetime: a second start must not save the kubelet's values
  [ -s "$STATE/sysctls.saved" ] && return 0
  local k
  for k in $SYSCTLS $NET_SYSCTLS; do  # a kernel without the module has no such key
    [ ! -e "$(sysctl_file "$k")" ] || echo "$k=$(sysctl -n "$k")"
  done >"$STATE/sysctls.saved.tmp"
  mv "$STATE/sysctls.saved.tmp" "$STATE/sysctls.saved"
  cmd_host_state >"$STATE/host.before"
}

write_configs() {
  mkdir -p "$STATE"/{containerd,cni/net.d,certs.d,kubelet,kubelet-certs,logs} "$CROOT"
  cat >"$STATE/containerd.toml" <<EOF
version = 2
root = "$CROOT/root"
state = "$STATE/containerd"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$STATE/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CROOT/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_REF"
  # The host's own processes may have a raised oom_score_adj; without this, runc fails to set
  # a lower one for containers ("permission denied") in this machine's sandbox.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # Debian's runc: crun fails on this machine's hybrid cgroup setup.
        BinaryName = "/usr/sbin/runc"
        Root = "$STATE/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    # One hosts.toml per registry ("node.sh forward PORT"), read at each pull.
    config_path = "$STATE/certs.d"
EOF
  cat >"$STATE/cni/net.d/10-bumper.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "bumper",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]],
              "dataDir": "$STATE/cni/ipam", "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
  cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine has cgroup v1 (hybrid); the kubelet refuses it unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$SOCK
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$BUMPER_NODE_CA"}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: ["$CLUSTER_DNS"]
resolvConf: ""
failSwapOn: false
serializeImagePulls: false
# The host's disk and memory belong to everyone: never evict or collect images because of them.
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
podCIDR: "$POD_CIDR"
maxPods: 30
# Container logs under the node's state, not the host's /var/log/pods (the kubelet still links
# them from /var/log/containers, a fixed path: stop removes those links).
podLogsDir: "$STATE/pods"
EOF
  cat >"$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
clientConnection: {kubeconfig: "${BUMPER_NODE_PROXY_KUBECONFIG:-$BUMPER_NODE_KUBECONFIG}"}
bindAddress: $NODE_IP
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
nodePortAddresses: ["$NODE_IP/32"]
# nf_conntrack_max and the timeouts are global: zero means "leave them alone".
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

spawn() {  # $1 = name, rest = command; logs to $STATE/logs/$1.log, pid in $STATE/$1.pid
  local name="$1"; shift
  alive "$name" && return 0
  # 9>&-: the lock fd must not outlive this script in the daemons (stop would wait forever).
  setsid "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/$name.pid"
}

wait_for() {  # $1 = what, $2 = seconds, rest = probe
  local what="$1" secs="$2" i; shift 2
  for ((i = 0; i < secs * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  local log  # the tails in the error: the state dir (and its logs) goes with the next stop
  for log in "$STATE"/logs/*.log; do
    [ -f "$log" ] && { echo "----- $log" >&2; tail -n 12 "$log" >&2; }
  done
  die "timed out waiting for $what (logs: $STATE/logs)"
}

kubelet_healthy() { innet bash -c "exec 3<>/dev/tcp/127.0.0.1/10248"; }

start_kubelet() {
  # `ctr version` answers before containerd's CRI plugin serves: a kubelet started in that
  # window exits at once ("validate CRI v1 runtime API"), which a warm restart (images already
  # imported) hits. It is started again, a few times, while it exits without being healthy.
  local attempt i
  for attempt in 1 2 3 4 5; do
    spawn kubelet nsenter --net="/run/netns/$NETNS" "$BIN/kubelet" \
      --config="$STATE/kubelet.yaml" --kubeconfig="$BUMPER_NODE_KUBECONFIG" \
      --root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet-certs" \
      --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
      --register-with-taints="$NODE_TAINT" --node-labels=bumper.dev/real-node=true --v=1
    for ((i = 0; i < 50; i++)); do
      kubelet_healthy >/dev/null 2>&1 && return 0
      running "$(cat "$STATE/kubelet.pid")" || break  # exited (a zombie counts as exited)
      sleep 0.2
    done
    running "$(cat "$STATE/kubelet.pid")" && return 0  # still starting: wait_for's time
    say "the kubelet exited before it was healthy (attempt $attempt): starting it again"
    rm -f "$STATE/kubelet.pid"  # else spawn would take the zombie for a running kubelet
    sleep 1
  done
}

cmd_forward() {  # $1 = a port on the host's 127.0.0.1, served to the node on $HOST_IP
  local port="$1"
  [[ "$port" =~ ^[0-9]+$ ]] || die "forward: not a port: $port"
  spawn "fwd-$port" socat "TCP-LISTEN:$port,bind=$HOST_IP,fork,reuseaddr" "TCP:127.0.0.1:$port"
  mkdir -p "$STATE/certs.d/localhost:$port"
  cat >"$STATE/certs.d/localhost:$port/hosts.toml" <<EOF
server = "http://localhost:$port"
[host."http://$HOST_IP:$port"]
  capabilities = ["pull", "resolve"]
EOF
  wait_for "the forwarder on $HOST_IP:$port" 10 bash -c "exec 3<>/dev/tcp/$HOST_IP/$port"
}

cmd_start() {
  : "${BUMPER_NODE_KUBECONFIG:?kubelet kubeconfig required}"
  : "${BUMPER_NODE_CA:?cluster CA required}"
  : "${BUMPER_NODE_APISERVER_PORT:?the API server port on 127.0.0.1 required}"
  # A running node needs nothing prepared (the common case: the fixture joins it again).
  if alive kubelet && alive kube-proxy && alive containerd; then
    say "already running ($NODE_NAME at $NODE_IP)"; return 0
  fi
  cmd_prepare
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock 9
  if alive kubelet && alive kube-proxy && alive containerd; then
    say "already running ($NODE_NAME at $NODE_IP)"; return 0
  fi
  save_sysctls
  # Pod IP leases live in $STATE/cni/ipam, gone with the node. Before, they were kept in
  # host-local's default directory, where the pods a stop kills without a CNI DEL leaked theirs
  # until the /24 was used up ("no IP addresses available"); clear what earlier runs left there.
  rm -rf /var/lib/cni/networks/bumper
  [ -e "$STATE/netns.before" ] || ls /run/netns 2>/dev/null | sort >"$STATE/netns.before" || true
  [ -e "$STATE/logdir.before" ] || { [ -d /var/log/containers ] && echo yes || echo no; } >"$STATE/logdir.before"
  setup_network
  write_configs
  cmd_forward "$BUMPER_NODE_APISERVER_PORT"
  spawn containerd nsenter --net="/run/netns/$NETNS" containerd --config "$STATE/containerd.toml"
  wait_for containerd 30 innet ctr --address "$SOCK" version
  import_image pause "$PAUSE_REF"
  import_image coredns "$COREDNS_REF"
  start_kubelet
  spawn kube-proxy nsenter --net="/run/netns/$NETNS" "$BIN/kube-proxy" \
    --config="$STATE/kube-proxy.yaml" --v=1
  wait_for "the kubelet's /healthz" 60 kubelet_healthy
  say "started $NODE_NAME at $NODE_IP (state $STATE)"
}

running() {  # $1 = pid; a zombie has exited already
  # The daemons are orphans, so an exited one stays a zombie until the host's init reaps it,
  # which here took about 2 s each: kill -0 alone made every stop wait that long per process.
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "${state#Z}" = "$state" ]
}

kill_pid() {  # $1 = name: SIGTERM, then SIGKILL after 10 s
  local pid i
  pid="$(cat "$STATE/$1.pid" 2>/dev/null)" || return 0
  if [ -n "$pid" ] && running "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do running "$pid" || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/$1.pid"
}

remove_cgroups() {  # the kubelet's "kubepods" tree in every hierarchy, leaves first
  local top
  for top in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/unified/kubepods; do
    [ -d "$top" ] || continue
    find "$top" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [ -d "$top" ] && say "WARNING: $top is not empty, left in place"
  done
  return 0
}

cmd_stop() {
  [ -d "$STATE" ] || { say "not running"; return 0; }
  exec 9>"$STATE/.lock"
  # A start in progress finishes first; the wait is bounded in case a stray process holds it.
  flock -w 120 9 || say "WARNING: $STATE/.lock still held after 120 s; stopping anyway"
  kill_pid kubelet
  kill_pid kube-proxy
  # Containers outlive containerd (their shims are separate processes): kill them through it.
  if alive containerd; then
    local c
    for c in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true; done
    sleep 1
    for c in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$c" >/dev/null 2>&1 || true; done
    for c in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$c" >/dev/null 2>&1 || true; done
  fi
  kill_pid containerd
  # Any shim left (containerd killed hard) by the pid it recorded under our state dir.
  local f
  for f in "$STATE"/containerd/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [ -e "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true
  done
  for f in "$STATE"/fwd-*.pid; do [ -e "$f" ] && kill_pid "$(basename "$f" .pid)"; done
  # Mounts: pod volumes under the kubelet's root, container rootfs and sandbox shm under state.
  { findmnt -rn -o TARGET | grep -E "^($STATE|$CROOT)/" || true; } | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  # Pod network namespaces made by CNI while the node ran (containerd names them cni-*).
  if [ -e "$STATE/netns.before" ]; then
    { ls /run/netns 2>/dev/null | grep '^cni-' || true; } | sort | comm -13 "$STATE/netns.before" - \
      | while read -r n; do ip netns delete "$n" 2>/dev/null || true; done
  fi
  # The kubelet's links to our container logs; the directory too when it made it.
  find /var/log/containers -maxdepth 1 -type l -lname "$STATE/*" -delete 2>/dev/null || true
  [ "$(cat "$STATE/logdir.before" 2>/dev/null)" = no ] && rmdir /var/log/containers 2>/dev/null || true
  ip link delete "$HOST_IF" 2>/dev/null || true
  ip netns delete "$NETNS" 2>/dev/null || true  # its iptables rules, bridge and veths go with it
  remove_cgroups
  # containerd 1.6 puts shim sockets in /run/containerd/s whatever its state dir: remove the
  # directories only when empty (a host containerd's stay).
  rmdir /run/containerd/s /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd \
    2>/dev/null || true
  if [ -s "$STATE/sysctls.saved" ]; then
    while IFS= read -r kv; do
      # only what differs: some keys are read-only where they are already right
      [ "$(sysctl -n "${kv%%=*}")" = "${kv#*=}" ] || sysctl -q -w "$kv" \
        || say "WARNING: cannot restore $kv"
    done <"$STATE/sysctls.saved"
  fi
  if [ -s "$STATE/host.before" ] && ! cmd_host_state | cmp -s "$STATE/host.before" -; then
    say "WARNING: the host differs from before the node started:"
    cmd_host_state | diff "$STATE/host.before" - | sed 's/^/  /' >&2 || true
  fi
  rm -rf "$STATE"
  say "stopped; host settings restored"
}

cmd_host_state() {  # the host namespace's view; the node's own namespace is not in it
  local k
  echo "# iptables"
  { iptables-save 2>/dev/null || true; } | sed -E '/^#/d; s/ \[[0-9]+:[0-9]+\]$//'
  echo "# ip6tables"
  { ip6tables-save 2>/dev/null || true; } | sed -E '/^#/d; s/ \[[0-9]+:[0-9]+\]$//'
  echo "# sysctls"
  for k in $SYSCTLS $NET_SYSCTLS; do
    [ ! -e "$(sysctl_file "$k")" ] || echo "$k=$(sysctl -n "$k")"
  done
  echo "# modules"
  if [ -r /proc/modules ]; then cut -d' ' -f1 /proc/modules | sort; else echo "(none loadable)"; fi
}

cmd_status() {
  local ok=0 n
  for n in containerd kubelet kube-proxy; do
    if alive "$n"; then echo "$n: running (pid $(cat "$STATE/$n.pid"))"; else echo "$n: stopped"; ok=1; fi
  done
  return $ok
}

[ "$(id -u)" = 0 ] || die "the node needs root (network namespaces, mounts, cgroups)"
case "${1:-}" in
  prepare) cmd_prepare ;;
  start) cmd_start ;;
  forward) [ -d "$STATE" ] || die "the node is not running"; cmd_forward "${2:?port}" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  host-state) cmd_host_state ;;
  *) die "usage: $0 prepare|start|forward PORT|stop|status|host-state" ;;
esac
