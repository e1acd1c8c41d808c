#!/usr/bin/env bash
# Benchmarks of the mount (issue 4): run-bench.sh calls it at its end, or
#
#     tests/bench/bench-mount.sh BUILD_DIR   (sessionarchiver, ...fs built)
#
# Root only: the cold reads drop the page cache. Each result is a ratio
# against a baseline timed in the same run, on the same disk:
#
#   1. Sequential read (dd bs=1M) of a 1 GiB .mbz through the mount vs
#      straight from the store, page cache dropped before each read
#      (sync; echo 3 > /proc/sys/vm/drop_caches). Ratio = throughput
#      mount / direct, target >= 0.9.
#   2. The same, warm: the file is read once, the second read is timed.
#      Target >= 0.8.
#   3. `find SESSION -type f` and `ls -lR SESSION` over a session of
#      $SA_BENCH_MOUNT_COURSES (100,000) courses in
#      $SA_BENCH_MOUNT_CATEGORIES (2,000) category folders, through the
#      mount vs the same tree on local disk, both warmed by one run first.
#      Ratio = time mount / time disk, target <= 2.
#   4. Mount ready: `sessionarchiverfs STORE MNT -o index=...` (without -f)
#      returns and `ls MNT` answers, on that 100,000-course index. Target
#      <= 1 s, measured with -o rescan=0 (which still runs one scan at
#      startup, in the background: it does not delay the mount); with the
#      default rescan it is printed for information. Ratio against a plain
#      `ls` of the store (the floor of any `ls`).
#   5. The daemon's VmRSS (/proc/PID/status) after the `ls -lR` runs,
#      target <= 100 MiB; ratio against its VmRSS once mounted and idle.
#
# The listing tree is the store's own session folder: its course files
# are sparse (a plausible size, no data blocks), with index rows whose size,
# mtime and inode match them (gen-mount.py), so the daemon's startup scan
# reads nothing, and the plain-disk baseline lists exactly the same names,
# sizes and folders (the mount adds the session's 6 status files). The
# listings start once that scan is over (the daemon's CPU time is still).
#
# The 1 GiB file is random bytes named .mbz: indexed as failed (not a
# backup) it is still on disk, so the mount shows and serves it.
#
# Data is generated once into $SA_BENCH_DIR (default
# /var/tmp/sessionarchiver-bench)/mount-list-N-C (~15 s for 100,000; sparse
# files, ~400 MB of inodes) and mount-read-M (1 GiB), reused while their
# .complete marker matches; the indexes are copied into work/ every run,
# mounts go on work/mnt-*. Every mount is unmounted on exit, failure or not.
#
# Reads take the median of $SA_BENCH_MOUNT_RUNS (5) runs, listings of 5,
# mount-ready of 3. SA_BENCH_PERF=1 also records `perf record -g` of the
# daemon during one `ls -lR` into work/perf-ls.data (and a report beside it).
# Exit status: 0 all targets met, 1 a target missed, 2 could not run.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -x "$1/sessionarchiver" ] ||
	[ ! -x "$1/sessionarchiverfs" ]; then
	echo "usage: $0 BUILD_DIR (with sessionarchiver and" \
		"sessionarchiverfs built)" >&2
	exit 2
fi
if [ "$(id -u)" -ne 0 ] || [ ! -w /proc/sys/vm/drop_caches ]; then
	echo "bench-mount: needs root (to drop the page cache)" >&2
	exit 2
fi
if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "bench-mount: needs /dev/fuse and fusermount3" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
sa=$(cd "$1" && pwd)/sessionarchiver
safs=$(cd "$1" && pwd)/sessionarchiverfs
python=/usr/bin/python3
bench_dir=${SA_BENCH_DIR:-/var/tmp/sessionarchiver-bench}
courses=${SA_BENCH_MOUNT_COURSES:-100000}
categories=${SA_BENCH_MOUNT_CATEGORIES:-2000}
read_mib=${SA_BENCH_MOUNT_READ_MIB:-1024}
runs=${SA_BENCH_MOUNT_RUNS:-5}
session=2025-2026
list_store=$bench_dir/mount-list-$courses-$categories
read_store=$bench_dir/mount-read-$read_mib
big_rel=$session/Faculte-big/backup-moodle2-course-999999-big-20261126-0709.mbz
work=$bench_dir/work
mounts=()
missed=0

# --- helpers ---------------------------------------------------------------

unmount_all() {
	local m
	for m in "${mounts[@]}"; do
		if mountpoint -q "$m"; then
			fusermount3 -u "$m" 2>/dev/null ||
				fusermount3 -uz "$m" 2>/dev/null || true
		fi
	done
	mounts=()
}
trap unmount_all EXIT
trap 'exit 2' INT TERM HUP

# report NAME VALUE UNIT BASE BASE_NAME OP TARGET TUNIT: OP is >= or <=;
# the target is on the ratio when TUNIT is empty, else on the value.
report() {
	local name=$1 value=$2 unit=$3 base=$4 base_name=$5 op=$6 target=$7
	local tunit=$8 ratio verdict on
	ratio=$(awk -v a="$value" -v b="$base" \
		'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
	if [ -z "$tunit" ]; then on=$ratio; else on=$value; fi
	verdict=$(awk -v v="$on" -v t="$target" -v op="$op" 'BEGIN {
		ok = (op == ">=") ? (v >= t) : (v <= t)
		print ok ? "PASS" : "MISS" }')
	[ "$verdict" = PASS ] || missed=1
	if [ -z "$tunit" ]; then target="$op ${target}x"
	else target="$op $target $tunit"; fi
	printf '%s: %s %s (ratio %s vs %s, target %s) %s\n' \
		"$name" "$value" "$unit" "$ratio" "$base_name" "$target" \
		"$verdict"
}

# timed [measure.py options] -- CMD...: sets T (wall s of the median run).
timed() {
	local out
	out=$("$python" "$here/measure.py" "$@")
	read -r T _ _ _ <<<"$out"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# The daemon serving mountpoint $1.
daemon_pid() {
	pgrep -n -f -- "sessionarchiverfs .* $1( |\$)"
}

# mount_fs STORE INDEX MNT [OPTIONS]: mounts, sets PID.
mount_fs() {
	local store=$1 index=$2 mnt=$3 extra=${4:-}
	mkdir -p "$mnt"
	mounts+=("$mnt")
	"$safs" "$store" "$mnt" -o "index=$index${extra:+,$extra}"
	PID=$(daemon_pid "$mnt")
}

# unmount_fs MNT PID: unmounts and waits for the daemon to exit.
unmount_fs() {
	local mnt=$1 pid=$2 i
	fusermount3 -u "$mnt"
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "bench-mount: daemon $pid still running 10 s after unmount" >&2
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# wait_idle PID: until the daemon used no CPU for 1 s (its startup scan is
# over); prints how long that took.
wait_idle() {
	local pid=$1 start last cur still=0
	start=$(now)
	last=$(cpu_ticks "$pid")
	while [ "$still" -lt 5 ]; do
		sleep 0.2
		cur=$(cpu_ticks "$pid")
		if [ "$cur" = "$last" ]; then still=$((still + 1))
		else still=0; last=$cur; fi
		if awk -v s="$(since "$start")" 'BEGIN { exit !(s > 300) }'
		then
			echo "bench-mount: daemon $pid still busy after 300 s" >&2
			exit 2
		fi
	done
	awk -v s="$(since "$start")" 'BEGIN { printf "%.1f", s - 1 }'
}

rss_mib() {
	awk -v k="$2" '$1 == k ":" { printf "%.1f", $2 / 1024 }' \
		"/proc/$1/status"
}

# --- the data, generated once ----------------------------------------------

marker="courses=$courses categories=$categories generator=$(sha256sum \
	"$here/gen-mount.py" | cut -c1-16)"
if [ -f "$list_store/.complete" ] &&
	[ "$(cat "$list_store/.complete")" = "$marker" ]; then
	echo "mount-list: reusing $list_store"
else
	# the index records the store's path: generate in place
	rm -rf "$list_store"
	echo "mount-list: generating $courses courses in $categories" \
		"folders in $list_store (once) ..."
	start=$(now)
	"$sa" -q init --store "$list_store"
	"$sa" -q --store "$list_store" --index "$list_store/.index.db" index
	"$python" "$here/gen-mount.py" --store "$list_store" \
		--index "$list_store/.index.db" --session "$session" \
		--courses "$courses" --categories "$categories" >/dev/null
	echo "mount-list: generated in $(since "$start") s"
	echo "$marker" >"$list_store/.complete"
fi

marker="mib=$read_mib path=$big_rel"
if [ -f "$read_store/.complete" ] &&
	[ "$(cat "$read_store/.complete")" = "$marker" ]; then
	echo "mount-read: reusing $read_store"
else
	rm -rf "$read_store"
	echo "mount-read: writing $read_mib MiB of random bytes (once) ..."
	"$sa" -q init --store "$read_store"
	mkdir -p "$read_store/$(dirname "$big_rel")"
	head -c "$((read_mib << 20))" /dev/urandom >"$read_store/$big_rel"
	# not a backup: indexed as failed, still on disk, so still mounted
	"$sa" -q --store "$read_store" --index "$read_store/.index.db" \
		index 2>/dev/null || true
	echo "$marker" >"$read_store/.complete"
fi

mkdir -p "$work"
for m in "$work"/mnt-*; do
	if mountpoint -q "$m" 2>/dev/null; then
		echo "bench-mount: $m is still mounted (an earlier run?);" \
			"unmounting" >&2
		fusermount3 -u "$m"
	fi
done
cp "$list_store/.index.db" "$work/mount-list.db"
cp "$read_store/.index.db" "$work/mount-read.db"
rm -f "$work"/mount-*.db-wal "$work"/mount-*.db-shm
mnt=$work/mnt-list
plain=$list_store/$session

# --- 3 and 5: listing a 100,000-course session, the daemon's memory --------

mount_fs "$list_store" "$work/mount-list.db" "$mnt" rescan=0
idle=$(wait_idle "$PID")
rss_idle=$(rss_mib "$PID" VmRSS)
echo "mount: daemon $PID, startup scan over after ~$idle s," \
	"VmRSS $rss_idle MiB"

echo "listing: one warm-up run of each"
n_plain=$(find "$plain" -type f | wc -l)
n_mount=$(find "$mnt/$session" -type f | wc -l)
ls -lR "$plain" >/dev/null
ls -lR "$mnt/$session" >/dev/null
echo "listing: $n_plain files on disk, $n_mount in the mount" \
	"(+6 status files)"
if [ "$n_mount" -ne $((n_plain + 6)) ] || [ "$n_plain" -ne "$courses" ]
then
	echo "bench-mount: the mount does not list the whole session" >&2
	exit 2
fi

timed --runs 5 -- find "$plain" -type f
t_find_plain=$T
timed --runs 5 -- find "$mnt/$session" -type f
t_find_mount=$T
timed --runs 5 -- ls -lR "$plain"
t_ls_plain=$T
timed --runs 5 -- ls -lR "$mnt/$session"
t_ls_mount=$T
rss_ls=$(rss_mib "$PID" VmRSS)
hwm_ls=$(rss_mib "$PID" VmHWM)
if [ -n "${SA_BENCH_PERF:-}" ]; then
	echo "perf: recording the daemon during one ls -lR"
	perf record -q -g -o "$work/perf-ls.data" -p "$PID" -- \
		ls -lR "$mnt/$session" >/dev/null 2>"$work/perf-ls.err" || true
	perf report -i "$work/perf-ls.data" --stdio --no-children \
		--percent-limit 1 >"$work/perf-ls.txt" 2>/dev/null || true
	echo "perf: $work/perf-ls.txt"
fi
unmount_fs "$mnt" "$PID"

# --- 4: mount ready --------------------------------------------------------

timed --runs 3 -- ls "$list_store"
t_ls_floor=$T
# ready OPTIONS: sets READY, the median of 3 mount-and-ls times.
ready() {
	local opts=$1 i start out=()
	for i in 1 2 3; do
		start=$(now)
		mounts+=("$mnt")
		"$safs" "$list_store" "$mnt" -o "index=$work/mount-list.db$opts"
		ls "$mnt" >/dev/null
		out+=("$(since "$start")")
		PID=$(daemon_pid "$mnt")
		wait_idle "$PID" >/dev/null
		unmount_fs "$mnt" "$PID"
	done
	READY=$(printf '%s\n' "${out[@]}" | median)
}
ready ",rescan=0"
t_ready0=$READY
ready ""
t_ready=$READY

# --- 1 and 2: reading 1 GiB ------------------------------------------------

mnt=$work/mnt-read
mount_fs "$read_store" "$work/mount-read.db" "$mnt" rescan=0
wait_idle "$PID" >/dev/null
bytes=$(stat -c %s "$read_store/$big_rel")
if [ "$(stat -c %s "$mnt/$big_rel")" -ne "$bytes" ]; then
	echo "bench-mount: $mnt/$big_rel is not the ${read_mib} MiB file" >&2
	exit 2
fi
dd_t() { timed -- dd if="$1" of=/dev/null bs=1M status=none; echo "$T"; }
cold_d=() cold_m=() warm_d=() warm_m=()
# one untimed cold read first: the first read of a run is slower whatever
# the path (the virtual disk's host cache), which would favour the second
drop_caches
dd if="$read_store/$big_rel" of=/dev/null bs=1M status=none
for i in $(seq "$runs"); do
	# alternate which of the two goes first
	if [ $((i % 2)) -eq 1 ]; then
		drop_caches
		cold_d+=("$(dd_t "$read_store/$big_rel")")
		drop_caches
		cold_m+=("$(dd_t "$mnt/$big_rel")")
	else
		drop_caches
		cold_m+=("$(dd_t "$mnt/$big_rel")")
		drop_caches
		cold_d+=("$(dd_t "$read_store/$big_rel")")
	fi
	warm_d+=("$(dd_t "$read_store/$big_rel")")
	dd if="$mnt/$big_rel" of=/dev/null bs=1M status=none
	warm_m+=("$(dd_t "$mnt/$big_rel")")
done
unmount_fs "$mnt" "$PID"
mbs() { awk -v b="$bytes" -v t="$1" 'BEGIN { printf "%.0f", b / t / 1e6 }'; }
t_cold_d=$(printf '%s\n' "${cold_d[@]}" | median)
t_cold_m=$(printf '%s\n' "${cold_m[@]}" | median)
t_warm_d=$(printf '%s\n' "${warm_d[@]}" | median)
t_warm_m=$(printf '%s\n' "${warm_m[@]}" | median)
echo "reads (s, each run): cold direct ${cold_d[*]}; cold mount" \
	"${cold_m[*]}; warm direct ${warm_d[*]}; warm mount ${warm_m[*]}"
echo "find, ls -lR (s, median of 5): disk $t_find_plain, $t_ls_plain;" \
	"mount $t_find_mount, $t_ls_mount"

echo
report "mount read 1 GiB, cold" "$(mbs "$t_cold_m")" MB/s \
	"$(mbs "$t_cold_d")" "direct read" ">=" 0.9 ""
report "mount read 1 GiB, warm" "$(mbs "$t_warm_m")" MB/s \
	"$(mbs "$t_warm_d")" "direct read" ">=" 0.8 ""
report "mount find -type f, $courses courses" "$t_find_mount" s \
	"$t_find_plain" "find on disk" "<=" 2 ""
report "mount ls -lR, $courses courses" "$t_ls_mount" s "$t_ls_plain" \
	"ls -lR on disk" "<=" 2 ""
report "mount ready (rescan=0)" "$t_ready0" s "$t_ls_floor" "ls of the store" \
	"<=" 1 s
printf '(mount ready with the default rescan: %s s)\n' "$t_ready"
report "mount daemon VmRSS after ls -lR" "$rss_ls" MiB "$rss_idle" \
	"VmRSS idle after mount" "<=" 100 MiB
printf '(daemon VmHWM after ls -lR: %s MiB)\n' "$hwm_ls"
exit "$missed"
