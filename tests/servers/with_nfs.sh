#!/usr/bin/env bash
# Runs a command with an NFS server up: nfs-ganesha (VFS FSAL) exporting a temporary directory
# on 127.0.0.2, inside a private network and mount namespace, so nothing listens on
# the host (NFSv3 needs rpcbind, and a plain rpcbind binds every address). The command runs in
# the namespace with FERRY_NFS_URI=nfs://127.0.0.2/<export path>, and FERRY_NFS_LOSSY_URI (the same
# export through tests/servers/nfs_lossy_proxy.py, counts in FERRY_NFS_LOSSY_STATS, its PID in
# FERRY_NFS_LOSSY_PID), and FERRY_NFS_RESTART (a script that restarts the server); the servers
# and the proxy are stopped by PID.
#   with_nfs.sh COMMAND [ARGS…]
# Without root or namespaces, it says why and exits 0 without running COMMAND (a skip).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [[ "${1:-}" != --inside ]]; then
  for tool in ganesha.nfsd rpcbind unshare ip; do
    command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin:/sbin
    command -v "$tool" >/dev/null ||
      { echo "SKIP: $tool is not installed (scripts/install-deps.sh installs it)"; exit 0; }
  done
  if ! unshare --net --mount --fork true 2>/dev/null; then
    echo "SKIP: cannot create network and mount namespaces here (needs root);" \
      "the NFS test will not listen on shared addresses"
    exit 0
  fi
  exec unshare --net --mount --fork bash "$0" --inside "$@"
fi
shift

state=$(mktemp -d "${TMPDIR:-/tmp}/ferry-nfs.XXXXXX")
mkdir -p "$state/export" "$state/recovery"
ip link set lo up
ip addr add 127.0.0.2/8 dev lo
mount -t tmpfs tmpfs /run  # rpcbind's socket and lock, private to this namespace.
mkdir -p /run/ganesha
cat >"$state/ganesha.conf" <<CONF
NFS_CORE_PARAM {
  Bind_addr = 127.0.0.2;
  Protocols = 3, 4;
  Enable_NLM = false;
  Enable_RQUOTA = false;
}
NFSV4 {
  Graceless = true;  # No 90 s grace period after start.
  RecoveryBackend = fs;
  RecoveryRoot = $state/recovery;
}
EXPORT {
  Export_Id = 1;
  Path = $state/export;
  Pseudo = $state/export;  # NFSv3 mounts by Path; the same name serves v4 too.
  Protocols = 3, 4;
  Transports = TCP;
  Access_Type = RW;
  Squash = No_Root_Squash;
  SecType = sys;
  FSAL { Name = VFS; }
}
LOG { Default_Log_Level = WARN; }
CONF

pids=()
cleanup() {
  local pid
  # A server started again by restart-server is known by its file only.
  [[ -f $state/server.pid ]] && pids+=("$(cat "$state/server.pid")")
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$state"
}
trap cleanup EXIT

rpcbind -w -f &
pids+=($!)
ganesha.nfsd -F -f "$state/ganesha.conf" -L "$state/ganesha.log" -p /run/ganesha.pid &
pids+=($!)
for _ in $(seq 1 200); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.2', 2049), 0.2)" 2>/dev/null &&
    rpcinfo -p 127.0.0.2 2>/dev/null | grep -q mountd; then
    break
  fi
  kill -0 "${pids[1]}" 2>/dev/null || { echo "with_nfs: ganesha exited:"; cat "$state/ganesha.log"; exit 1; }
  sleep 0.05
done
# FERRY_NFS_RESTART SECONDS [DOWN_FILE]: stops the server (by PID), creates DOWN_FILE once it is
# gone, keeps it down SECONDS, starts it again and returns once it answers; cleanup stops the new
# one by the PID it leaves in server.pid.
cat >"$state/restart-server" <<SCRIPT
#!/usr/bin/env bash
set -eu
pid=\$(cat "$state/server.pid" 2>/dev/null || echo ${pids[1]})
kill "\$pid"
while kill -0 "\$pid" 2>/dev/null; do sleep 0.05; done
[[ -z "\${2:-}" ]] || touch "\$2"
sleep "\$1"
ganesha.nfsd -F -f "$state/ganesha.conf" -L "$state/ganesha.log" -p /run/ganesha.pid \
  </dev/null >/dev/null 2>&1 &
echo \$! >"$state/server.pid"
for _ in \$(seq 1 200); do
  python3 -c "import socket; socket.create_connection(('127.0.0.2', 2049), 0.2)" 2>/dev/null && exit 0
  sleep 0.05
done
echo "restart-server: ganesha did not come back" >&2
exit 1
SCRIPT
chmod +x "$state/restart-server"
# The same export through a proxy that loses the first answer to every call that changes the
# namespace (done on the server, then the connection dropped), as a network can.
python3 "$here/nfs_lossy_proxy.py" --listen 127.0.0.2:20490 --to 127.0.0.2:2049 \
  --procs CREATE,MKDIR,REMOVE,LINK,RENAME --stats "$state/lossy.json" &
pids+=($!)
for _ in $(seq 1 200); do
  python3 -c "import socket; socket.create_connection(('127.0.0.2', 20490), 0.2)" 2>/dev/null && break
  kill -0 "${pids[2]}" 2>/dev/null || { echo "with_nfs: the lossy proxy exited"; exit 1; }
  sleep 0.05
done
export FERRY_NFS_URI=nfs://127.0.0.2$state/export
export FERRY_NFS_LOSSY_URI=nfs://127.0.0.2:20490$state/export
export FERRY_NFS_LOSSY_STATS=$state/lossy.json
export FERRY_NFS_LOSSY_PID=${pids[2]}
export FERRY_NFS_RESTART=$state/restart-server
export FERRY_NFS_EXPORT_DIR=$state/export
export FERRY_NFS_SERVER_PID=${pids[1]}
"$@"
