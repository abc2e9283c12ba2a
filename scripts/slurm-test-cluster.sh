#!/usr/bin/env bash
# A real Slurm cluster on this one machine, from Debian's packages, for fwbench's tests and for
# trying `fwbench run --executor slurm`: slurmctld, slurmdbd (with a MariaDB of its own, so that
# sacct works) and N slurmd, each node in its own PID and mount namespace so that a node can be
# lost as a whole (kill-node) or lack a file the others have (--hide). Runs as root; everything
# lives under one folder and on loopback ports, and `stop` removes it.
#
#   scripts/slurm-test-cluster.sh start [--nodes N] [--hide NODE:PATH]…   then: eval "$(… env)"
#   scripts/slurm-test-cluster.sh env | status | stop | kill-node NODE | start-node NODE
#
# FWBENCH_SLURM_DIR (default /tmp/fwbench-slurm) is the folder, FWBENCH_SLURM_PORT (default
# 16800) the first of the ports it uses. The nodes share this machine's cores: the cluster is for
# checking that runs fan out, fail and finish correctly, not for comparing machines.
set -euo pipefail

DIR=${FWBENCH_SLURM_DIR:-/tmp/fwbench-slurm}
PORT=${FWBENCH_SLURM_PORT:-16800}
CLUSTER=fwbench
DB_PORT=$((PORT + 6))
CTLD_PORT=$((PORT + 17))
DBD_PORT=$((PORT + 19))
NODE_PORT=$((PORT + 100))

STARTING=0
die() {
  echo "slurm-test-cluster: $*" >&2
  # A start that failed half-way leaves nothing running (its logs stay for reading).
  if ((STARTING)); then kill_all > /dev/null 2>&1 || true; fi
  exit 2
}

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
}

need_programs() {
  local missing=()
  for p in slurmctld slurmd slurmdbd sinfo sacctmgr mariadbd mariadb-install-db unshare; do
    command -v "$p" > /dev/null || missing+=("$p")
  done
  if ((${#missing[@]})); then
    die "missing ${missing[*]}: run scripts/install-deps.sh --slurm (or apt-get install" \
      "slurmctld slurmd slurmdbd slurm-client mariadb-server)"
  fi
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2> /dev/null; }

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local seconds=$1
  shift
  local until=$((SECONDS + seconds))
  until "$@" > /dev/null 2>&1; do
    ((SECONDS < until)) || return 1
    sleep 0.3
  done
}

write_configs() {
  local nodes=$1 cpus
  cpus=$(nproc)
  {
    echo "# fwbench's test cluster (scripts/slurm-test-cluster.sh): $nodes nodes on loopback"
    echo "ClusterName=$CLUSTER"
    echo "SlurmctldHost=localhost"
    echo "SlurmctldPort=$CTLD_PORT"
    echo "AuthType=auth/none"
    echo "CredType=cred/none"
    echo "SlurmUser=root"
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "MpiDefault=none"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_Core"
    echo "StateSaveLocation=$DIR/state"
    echo "SlurmdSpoolDir=$DIR/spool/%n"
    echo "SlurmctldPidFile=$DIR/slurmctld.pid"
    echo "SlurmdPidFile=$DIR/slurmd.%n.pid"
    echo "SlurmctldLogFile=$DIR/log/slurmctld.log"
    echo "SlurmdLogFile=$DIR/log/slurmd.%n.log"
    echo "AccountingStorageType=accounting_storage/slurmdbd"
    echo "AccountingStorageHost=localhost"
    echo "AccountingStoragePort=$DBD_PORT"
    echo "JobAcctGatherType=jobacct_gather/none"
    # A lost node is noticed within seconds, and comes back by itself when its slurmd returns.
    echo "SlurmdTimeout=10"
    echo "ReturnToService=2"
    echo "MinJobAge=600"
    echo "MaxArraySize=10001"
    local names=()
    for ((i = 1; i <= nodes; i++)); do
      echo "NodeName=n$i NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((NODE_PORT + i))" \
        "CPUs=$cpus RealMemory=1000"
      names+=("n$i")
    done
    echo "PartitionName=debug Nodes=$(IFS=,; echo "${names[*]}") Default=YES MaxTime=INFINITE State=UP"
  } > "$DIR/slurm.conf"
  {
    echo "AuthType=auth/none"
    echo "DbdHost=localhost"
    echo "DbdPort=$DBD_PORT"
    echo "SlurmUser=root"
    echo "PidFile=$DIR/slurmdbd.pid"
    echo "LogFile=$DIR/log/slurmdbd.log"
    echo "StorageType=accounting_storage/mysql"
    echo "StorageHost=127.0.0.1"
    echo "StoragePort=$DB_PORT"
    echo "StorageUser=root"
    echo "StorageLoc=slurm_acct_db"
  } > "$DIR/slurmdbd.conf"
  chmod 600 "$DIR/slurmdbd.conf"
}

# start_node NODE [PATH…]: the node's slurmd, with an empty tmpfs over each PATH for it alone.
start_node() {
  local node=$1
  shift
  # Its own PID namespace: killing the namespace's first process ends the node's slurmd, its
  # slurmstepds and the trials they run together, as a lost machine would. The paths are the
  # inner shell's arguments, never parsed as shell text.
  setsid unshare --pid --fork --mount-proc --propagation private \
    sh -c 'node=$1; shift; for p in "$@"; do mount -t tmpfs -o size=1m fwbench-hidden "$p" || exit 1; done; exec slurmd -D -N "$node"' \
    start-node "$node" "$@" >> "$DIR/log/slurmd.$node.out" 2>&1 < /dev/null &
  echo $! > "$DIR/node.$node.pid"
}

cmd_start() {
  local nodes=2 hides=()
  while (($#)); do
    case $1 in
      --nodes) nodes=${2:?--nodes takes a count}; shift 2 ;;
      --hide) hides+=("${2:?--hide takes NODE:PATH}"); shift 2 ;;
      *) die "start: unknown option '$1' (--nodes N, --hide NODE:PATH)" ;;
    esac
  done
  [[ $nodes =~ ^[1-9][0-9]?$ ]] || die "--nodes: '$nodes' is not a count from 1 to 99"
  [[ $(id -u) == 0 ]] || die "start needs root (slurmd starts jobs as their users)"
  need_programs
  if alive "$DIR/slurmctld.pid"; then
    if ((nodes != 2 || ${#hides[@]})); then
      die "a cluster is already running in $DIR; stop it first to start one with other options"
    fi
    echo "slurm-test-cluster: already running in $DIR" >&2
    cmd_env
    return 0
  fi
  [[ -d $DIR ]] && kill_all > /dev/null 2>&1
  STARTING=1
  rm -rf "$DIR"
  mkdir -p "$DIR"/{state,spool,log,db}
  write_configs "$nodes"
  export SLURM_CONF=$DIR/slurm.conf
  local t0=$SECONDS

  # MariaDB for slurmdbd only: loopback, its own folder, no passwords (nothing else can reach it).
  mariadb-install-db --no-defaults --datadir="$DIR/db" --user=root --skip-test-db \
    --auth-root-authentication-method=normal > "$DIR/log/mariadb-install.log" 2>&1 ||
    die "mariadb-install-db failed; see $DIR/log/mariadb-install.log"
  setsid mariadbd --no-defaults --datadir="$DIR/db" --user=root --bind-address=127.0.0.1 \
    --port="$DB_PORT" --socket="$DIR/mariadb.sock" --pid-file="$DIR/mariadb.pid" \
    --skip-grant-tables --log-error="$DIR/log/mariadb.log" > /dev/null 2>&1 < /dev/null &
  wait_for 60 test -S "$DIR/mariadb.sock" || die "MariaDB did not start; see $DIR/log/mariadb.log"

  # slurmdbd reads slurmdbd.conf beside $SLURM_CONF.
  slurmdbd || die "slurmdbd did not start; see $DIR/log/slurmdbd.log"
  wait_for 60 sacctmgr -i -n list cluster ||
    die "slurmdbd does not answer; see $DIR/log/slurmdbd.log"
  sacctmgr -i add cluster "$CLUSTER" > /dev/null 2>&1 || true
  wait_for 30 sh -c "sacctmgr -n -P list cluster format=cluster | grep -qx $CLUSTER" ||
    die "cannot register cluster $CLUSTER with slurmdbd; see $DIR/log/slurmdbd.log"

  slurmctld -i -f "$DIR/slurm.conf" || die "slurmctld did not start; see $DIR/log/slurmctld.log"
  wait_for 30 sinfo -h || die "slurmctld does not answer; see $DIR/log/slurmctld.log"

  local -a hidden
  for ((i = 1; i <= nodes; i++)); do
    hidden=()
    for h in "${hides[@]+"${hides[@]}"}"; do
      [[ ${h%%:*} == "n$i" ]] && hidden+=("${h#*:}")
    done
    start_node "n$i" "${hidden[@]+"${hidden[@]}"}"
  done
  wait_for 60 sh -c "[ \"\$(sinfo -h -N -t idle -o %N | sort -u | wc -l)\" -ge $nodes ]" ||
    die "not every node came up: $(sinfo -h -N -o '%N %t' | tr '\n' ' '); see $DIR/log/"
  STARTING=0
  echo "slurm-test-cluster: $nodes nodes up in $((SECONDS - t0)) s (folder $DIR)" >&2
  cmd_env
}

cmd_env() { echo "export SLURM_CONF=$DIR/slurm.conf"; }

cmd_status() {
  [[ -f $DIR/slurm.conf ]] || die "no test cluster in $DIR"
  export SLURM_CONF=$DIR/slurm.conf
  sinfo -N -o '%N %t %C'
  squeue
}

cmd_kill_node() {
  local node=${1:?kill-node takes a node name, e.g. n2}
  [[ -f $DIR/node.$node.pid ]] || die "no node $node in $DIR"
  local unshare_pid
  unshare_pid=$(cat "$DIR/node.$node.pid")
  # The namespace's first process is unshare's child; SIGKILL to it ends every process inside.
  pkill -KILL -P "$unshare_pid" 2> /dev/null || true
  wait_for 10 sh -c "! kill -0 $unshare_pid" || kill -KILL "$unshare_pid" 2> /dev/null || true
  rm -f "$DIR/node.$node.pid"
  echo "slurm-test-cluster: node $node killed with everything it ran" >&2
}

cmd_start_node() {
  local node=${1:?start-node takes a node name, e.g. n2}
  [[ -f $DIR/slurm.conf ]] || die "no test cluster in $DIR"
  grep -q "^NodeName=$node " "$DIR/slurm.conf" || die "the test cluster has no node $node"
  if [[ -f $DIR/node.$node.pid ]] && alive "$DIR/node.$node.pid"; then
    die "node $node is running; kill-node $node first"
  fi
  export SLURM_CONF=$DIR/slurm.conf
  start_node "$node"
  # ReturnToService=2: the controller takes it back once its slurmd registers.
  wait_for 60 sh -c "sinfo -h -N -n $node -o %t | grep -Eq '^(idle|mix|alloc)$'" ||
    die "node $node did not come back: $(sinfo -h -N -n "$node" -o '%t'); see $DIR/log/"
  echo "slurm-test-cluster: node $node is back" >&2
}

stop_pidfile() {
  local file=$1
  alive "$file" || return 0
  local pid
  pid=$(cat "$file")
  kill "$pid" 2> /dev/null || true
  wait_for 20 sh -c "! kill -0 $pid" || kill -KILL "$pid" 2> /dev/null || true
}

kill_all() {
  for f in "$DIR"/node.*.pid; do
    [[ -f $f ]] || continue
    local node=${f##*/node.}
    cmd_kill_node "${node%.pid}" 2> /dev/null
  done
  stop_pidfile "$DIR/slurmctld.pid"
  stop_pidfile "$DIR/slurmdbd.pid"
  stop_pidfile "$DIR/mariadb.pid"
}

cmd_stop() {
  [[ -d $DIR ]] || return 0
  kill_all
  rm -rf "$DIR"
  echo "slurm-test-cluster: stopped, $DIR removed" >&2
}

case ${1:-} in
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  env) cmd_env ;;
  status) cmd_status ;;
  kill-node) shift; cmd_kill_node "$@" ;;
  start-node) shift; cmd_start_node "$@" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
