#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine, for tests/test_slurm.py (and for trying
# `snakemake --profile profiles/slurm` without a real cluster).
#
#   sudo tests/slurm/start-cluster.sh        # or as root; Debian: apt-get install
#                                            #   slurmctld slurmd slurm-client munge
#
# Writes /etc/slurm/slurm.conf (this host as the only node, all its CPUs, 95 % of its memory,
# one partition, no accounting database), starts munged, slurmctld and slurmd, and waits until
# a job runs (`srun true`). Idempotent: a cluster that is already up with the same
# configuration is left alone; a changed configuration restarts the daemons this script
# started (found by their pid files). Exits non-zero, saying why, when the cluster cannot
# start. Environment:
#   SLURM_TEST_PARTITION   partition name (default: local)
#   SLURM_TEST_TIMEOUT     seconds to wait for the node to take a job (default: 60)
#
# Choices for a container: proctrack/linuxproc and task/none need no cgroups; no slurmdbd, so
# `sacct` does not work: Snakemake's SLURM plugin must check job states with squeue
# (--slurm-status-command squeue), and squeue sees a finished job for MinJobAge seconds
# (the plugin falls back to sacct when MinJobAge is under 3x its first status-check delay).
set -euo pipefail

PARTITION="${SLURM_TEST_PARTITION:-local}"
TIMEOUT="${SLURM_TEST_TIMEOUT:-60}"
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
LOG_DIR=/var/log/slurm
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid

fail() {
	echo "start-cluster: $*" >&2
	exit 1
}
log_tail() {
	for file in "$@"; do
		[ -s "$file" ] && { echo "--- last lines of $file:" >&2; tail -n 15 "$file" >&2; }
	done
	return 0
}
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (it writes $CONF and starts daemons)"
for command in munged munge unmunge slurmctld slurmd sinfo srun scontrol; do
	command -v "$command" >/dev/null ||
		fail "'$command' not found: apt-get install slurmctld slurmd slurm-client munge"
done

# --- munge: the shared key authenticates the daemons and the client commands to each other
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
	dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
	runuser -u munge -- munged ||
		{ log_tail /var/log/munge/munged.log; fail "munged did not start"; }
	for _ in $(seq 50); do
		munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
		sleep 0.1
	done
	munge -n | unmunge >/dev/null || fail "munged runs but a credential does not round-trip"
fi

# --- slurm.conf: this host, as slurmd sees it
HOST="$(hostname -s)"
NODE="$(slurmd -C | head -n 1)" || fail "slurmd -C could not read this machine's hardware"
MEMORY="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$NODE")"
[ -n "$MEMORY" ] || fail "no RealMemory in 'slurmd -C': $NODE"
# less than the machine has: a node with less memory than configured is drained
NODE="${NODE/RealMemory=$MEMORY/RealMemory=$((MEMORY * 95 / 100))}"
NEW_CONF="$(
	cat <<EOF
# Written by tests/slurm/start-cluster.sh: a one-node test cluster on $HOST.
ClusterName=secondorder-test
SlurmctldHost=$HOST(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
$NODE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
)"
install -d -m 0755 "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd
if [ "$(cat "$CONF" 2>/dev/null)" != "$NEW_CONF" ]; then
	printf '%s\n' "$NEW_CONF" >"$CONF"
	for pidfile in "$SLURMD_PID" "$CTLD_PID"; do # a changed node or partition: restart
		if running "$pidfile"; then
			pid="$(cat "$pidfile")"
			kill "$pid"
			for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		fi
	done
fi

# --- the daemons
if ! running "$CTLD_PID"; then
	slurmctld || { log_tail "$LOG_DIR/slurmctld.log"; fail "slurmctld did not start"; }
fi
for _ in $(seq 100); do
	scontrol ping 2>/dev/null | grep -q 'is UP' && break
	sleep 0.2
done
scontrol ping 2>/dev/null | grep -q 'is UP' ||
	{ log_tail "$LOG_DIR/slurmctld.log"; fail "slurmctld does not answer (scontrol ping)"; }
if ! running "$SLURMD_PID"; then
	slurmd || { log_tail "$LOG_DIR/slurmd.log"; fail "slurmd did not start"; }
fi

# --- wait until the node takes a job
deadline=$((SECONDS + TIMEOUT))
state=""
while [ "$SECONDS" -lt "$deadline" ]; do
	state="$(sinfo -h -n "$HOST" -o %T 2>/dev/null | head -n 1)"
	case "$state" in
	idle* | mixed* | allocated* | completing*) break ;;
	drain* | down*) scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true ;;
	esac
	sleep 0.5
done
case "$state" in
idle* | mixed* | allocated* | completing*) ;;
*)
	log_tail "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log"
	fail "node $HOST is '${state:-unknown}' after ${TIMEOUT}s ($(sinfo -h -R 2>/dev/null))"
	;;
esac
timeout "$TIMEOUT" srun --quiet --time=1 --mem=10 true ||
	{ log_tail "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log"; fail "a test job (srun true) did not run"; }
echo "start-cluster: SLURM is up on $HOST: partition $PARTITION, $(sinfo -h -o '%c CPUs, %m MB')"
