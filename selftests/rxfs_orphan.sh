#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host-side driver of selftests/rxfs_orphan.c: orphan recovery across a power
# cut takes two boots of the test VM on one disk image.
#
#   selftests/rxfs_orphan.sh [VM-RUN OPTION]...      (e.g. --debug, --no-module)
#
# What it runs, from the repository root, IMG being a fresh sparse image:
#
#   truncate -s 64M IMG
#   RXFS_ORPHAN_PHASE=1 scripts/vm-run [OPTIONS] --disk IMG -- build/selftests/rxfs_orphan
#       The test powers the VM off (sysrq o) in the middle of orphan.crash,
#       with the unlinked files still open, so vm-run exits 1 with "the guest
#       stopped without reporting a status". Phase 1 passed if the output has
#       "# RXFS_ORPHAN_STATE bfree=B ffree=F" and "# RXFS_ORPHAN_POWEROFF",
#       no "not ok" line, and vm-run did not report a kernel warning.
#   RXFS_ORPHAN_PHASE=2 RXFS_ORPHAN_BFREE=B RXFS_ORPHAN_FFREE=F \
#       scripts/vm-run [OPTIONS] --disk IMG -- build/selftests/rxfs_orphan
#       Must exit 0 ("ok 2 orphan.recover").
#
# Output: phase 1's output with its TAP result lines turned into comments,
# then one line "ok 1 orphan.crash_poweroff" or "not ok 1 ...", then phase
# 2's output as is (its "ok 1 orphan.crash # SKIP" and "ok 2
# orphan.recover"), so a TAP counter sees one result per phase. Exit status
# 0 when both phases passed, 1 otherwise.
#
# Environment: RXFS_TEST_FSTYPE (ext4, xfs: validate against a baseline with
# --no-module), RXFS_TEST_BS, RXFS_TEST_MKFS, RXFS_TEST_FSCK reach the guest
# through vm-run. RXFS_ORPHAN_IMG=PATH uses and keeps that image (default: a
# temporary one, removed); RXFS_ORPHAN_SIZE is its size (default 64M; xfs
# needs RXFS_ORPHAN_SIZE=512M, mkfs.xfs refuses less than 300 MB).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=$root/build/selftests/rxfs_orphan
[ -x "$bin" ] || make -s -C "$here" "$bin" || exit 1

if [ -n "${RXFS_ORPHAN_IMG:-}" ]; then
	img=$RXFS_ORPHAN_IMG
	keep=1
else
	img=$(mktemp "${TMPDIR:-/tmp}/rxfs-orphan.XXXXXX.img")
	keep=
fi
logs=$(mktemp -d "${TMPDIR:-/tmp}/rxfs-orphan-logs.XXXXXX")
cleanup() {
	[ -n "$keep" ] || rm -f "$img"
	rm -rf "$logs"
}
trap cleanup EXIT

rm -f "$img"
truncate -s "${RXFS_ORPHAN_SIZE:-64M}" "$img"

echo "# rxfs_orphan phase 1: build the orphans, power off (image $img)"
RXFS_ORPHAN_PHASE=1 "$root/scripts/vm-run" "$@" --disk "$img" -- "$bin" \
	>"$logs/phase1.raw" 2>"$logs/phase1.err"
rc1=$?
tr -d '\r' <"$logs/phase1.raw" >"$logs/phase1.out"
sed -E 's/^((not )?ok [0-9]+ )/# phase 1: \1/' "$logs/phase1.out"
state=$(sed -n 's/^# RXFS_ORPHAN_STATE \(bfree=[0-9]* ffree=[0-9]*\)$/\1/p' "$logs/phase1.out")
why=
if grep -q 'shows a warning' "$logs/phase1.err"; then
	why="the guest kernel log shows a warning, oops or leak report"
elif grep -q '^not ok ' "$logs/phase1.out"; then
	why="phase 1 failed"
elif [ -z "$state" ] || ! grep -q '^# RXFS_ORPHAN_POWEROFF' "$logs/phase1.out"; then
	why="phase 1 did not reach the power-off (vm-run exit $rc1)"
elif [ "$rc1" = 0 ]; then
	why="the VM shut down normally: the power cut did not happen"
fi
if [ -n "$why" ]; then
	echo "not ok 1 orphan.crash_poweroff # $why"
	tail -n 60 "$logs/phase1.err" | sed 's/^/# /'
	echo "FAIL rxfs_orphan"
	exit 1
fi
echo "ok 1 orphan.crash_poweroff"

bfree=${state#bfree=}; bfree=${bfree%% *}
ffree=${state##*ffree=}
echo "# rxfs_orphan phase 2: mount after the power cut (bfree=$bfree ffree=$ffree)"
RXFS_ORPHAN_PHASE=2 RXFS_ORPHAN_BFREE=$bfree RXFS_ORPHAN_FFREE=$ffree \
	"$root/scripts/vm-run" "$@" --disk "$img" -- "$bin" 2>"$logs/phase2.err"
rc2=$?
if [ "$rc2" != 0 ]; then
	tail -n 60 "$logs/phase2.err" | sed 's/^/# /'
	echo "FAIL rxfs_orphan (phase 2 exit $rc2)"
	exit 1
fi
echo "PASS rxfs_orphan"
