#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host-side driver of selftests/rxfs_powercut.c: a workload cut by sysrq-b
# again and again, one boot of the test VM per cut, on the same disks.
#
#   selftests/rxfs_powercut.sh [VM-RUN OPTION]...
#
# For each block size of RXFS_PC_BS (default "1024 4096"): a fresh 256 MiB
# filesystem image and a 4 MiB record disk; boot 1 makes the filesystem and
# runs the workload until the cut; boots 2..RXFS_PC_CUTS (default 10) mount,
# check every fsync'd file, fsck, and run the workload again until the cut;
# a last boot only checks. A cut boot must end in the reboot (vm-run exits 1,
# "the guest stopped without reporting a status") after "# RXFS_PC_CUTTING",
# with no kernel warning; the last boot must exit 0.
#
# Output: each boot's result lines renumbered into one TAP stream, one more
# line per cut boot ("ok N powercut.bsB.bootK.cut"), then PASS or FAIL.
# Exit status 0 when every line passed. RXFS_PC_SEED seeds the workloads
# and the cut times (default: the time); the seed is printed.
#
# Then the negative control (RXFS_PC_CONTROL_CUTS, default 4, at 4 KiB; 0
# skips it): the same cuts with the dangerous knob no_log (commits bypass
# the journal). It must see what the journal prevents: a boot whose fsck
# is not clean or whose fsync'd files differ. One line
# "ok N powercut.control.sees_damage # D of B boots damaged".
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=$root/build/selftests/rxfs_powercut
[ -x "$bin" ] || make -s -C "$here" "$bin" || exit 1

cuts=${RXFS_PC_CUTS:-10}
seed=${RXFS_PC_SEED:-$(date +%s)}
work=$(mktemp -d "${TMPDIR:-/tmp}/rxfs-powercut.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "# rxfs_powercut: seed $seed, $cuts cuts per block size"

n=0 bad=0
emit() { # ok|not, text
	n=$((n + 1))
	if [ "$1" = ok ]; then echo "ok $n $2"; else echo "not ok $n $2"; bad=$((bad + 1)); fi
}

for bs in ${RXFS_PC_BS:-1024 4096}; do
	img=$work/fs.img rec=$work/rec.img
	rm -f "$img" "$rec"
	truncate -s 256M "$img"
	truncate -s 4M "$rec"
	for ((boot = 1; boot <= cuts + 1; boot++)); do
		last=0
		((boot == cuts + 1)) && last=1
		RXFS_TEST_BS=$bs RXFS_PC_BOOT=$boot RXFS_PC_LAST=$last RXFS_PC_SEED=$seed \
			"$root/scripts/vm-run" "$@" --disk "$img" --disk "$rec" -- "$bin" \
			>"$work/out" 2>"$work/err"
		rc=$?
		tr -d '\r' <"$work/out" >"$work/out.txt"
		# This boot's own result lines, renumbered.
		while IFS= read -r line; do
			case $line in
			"ok "*) emit ok "bs$bs.${line#ok * powercut.}" ;;
			"not ok "*) emit not "bs$bs.${line#not ok * powercut.}" ;;
			"#"*) echo "$line" ;;
			esac
		done <"$work/out.txt"
		if grep -q 'shows a warning' "$work/err"; then
			emit not "bs$bs.boot$boot.no_kernel_warning"
			tail -n 60 "$work/err" | sed 's/^/# /'
		fi
		if ((last)); then
			[ $rc = 0 ] || { emit not "bs$bs.boot$boot.exit # vm-run exit $rc"; tail -n 40 "$work/err" | sed 's/^/# /'; }
		elif grep -q '^# RXFS_PC_CUTTING' "$work/out.txt" && [ $rc != 0 ] && ! grep -q 'shows a warning' "$work/err"; then
			emit ok "bs$bs.boot$boot.cut"
		else
			emit not "bs$bs.boot$boot.cut # the workload did not end in the power cut (vm-run exit $rc)"
			tail -n 40 "$work/err" | sed 's/^/# /'
			break
		fi
	done
done
# The negative control: without the journal the same cuts do damage.
ccuts=${RXFS_PC_CONTROL_CUTS:-4}
if ((ccuts > 0)); then
	img=$work/fs.img rec=$work/rec.img
	rm -f "$img" "$rec"
	truncate -s 256M "$img"
	truncate -s 4M "$rec"
	damaged=0 boots=0
	for ((boot = 1; boot <= ccuts + 1; boot++)); do
		last=0
		((boot == ccuts + 1)) && last=1
		RXFS_TEST_MKFS="mkfs.rxfs -q -f -b 4096 -l size=0" RXFS_PC_BOOT=$boot RXFS_PC_LAST=$last RXFS_PC_SEED=$seed \
			"$root/scripts/vm-run" "$@" --disk "$img" --disk "$rec" -- "$bin" \
			>"$work/out" 2>"$work/err"
		tr -d '\r' <"$work/out" >"$work/out.txt"
		((boot > 1)) || continue
		boots=$((boots + 1))
		if grep -q '^not ok .*\(fsynced_files_intact\|fsck_clean\|mount_recovers\)' "$work/out.txt"; then
			damaged=$((damaged + 1))
			grep -E '^not ok|^# record|^#   fsck.rxfs:' "$work/out.txt" | head -6 | sed 's/^/# control: /'
		fi
		# A boot that did not get to the workload (mount failed) ends it.
		grep -q '^# RXFS_PC_CUTTING' "$work/out.txt" || break
	done
	if ((damaged > 0)); then
		emit ok "control.sees_damage # $damaged of $boots boots after a cut damaged without the journal"
	else
		emit not "control.sees_damage # 0 of $boots boots damaged: the test cannot tell a journal from none"
	fi
fi
if ((bad)); then
	echo "FAIL rxfs_powercut ($bad of $n)"
	exit 1
fi
echo "PASS rxfs_powercut"
