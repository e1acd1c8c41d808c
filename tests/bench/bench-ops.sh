#!/usr/bin/env bash
# Benchmarks of archive and restore (issues 5 and 6): run-bench.sh calls it
# at its end (SA_BENCH_OPS=0 skips it), or
#
#     tests/bench/bench-ops.sh BUILD_DIR     (BUILD_DIR holds sessionarchiver)
#
# Needs php, mariadbd and python3-pymysql (the fake Moodle sites of
# tests/fakemoodle, on a private MariaDB started under $SA_BENCH_DIR/ops
# and stopped on exit). A source site holds a session category 2025-2026
# with $SA_BENCH_OPS_COURSES (500) empty courses in 10 sub-categories; an
# archive site receives the restores. Each result is a ratio against a
# plain bash loop timed in the same run, on the same sites:
#
#   1. `sessionarchiver -c CONF archive 2025-2026`, [jobs] parallel=1,
#      backup.php doing almost no work, vs a loop running
#      `php SITE/admin/cli/backup.php --courseid=N --destination=TMP` for
#      each course and moving the file into a store tree (mkdir -p, mv).
#      Ratio = time tool / time loop, target <= 1.1.
#   2. The same with parallel=2 and backup.php burning $SA_BENCH_OPS_CPU
#      (0.2) s of CPU per course (fault cpu:S on every course), vs the same
#      sequential loop with the same fault. Target <= 0.6.
#   3. `sessionarchiver -c CONF restore 2025-2026`, parallel=1, of the
#      backups of 1 (a fresh copy of the archived store and a fresh index,
#      indexed before the timer starts), into a new target category of the
#      archive site ([archive] target = id:N), vs a loop running
#      `php SITE/admin/cli/restore_backup.php --file=F --categoryid=N` for
#      each backup into a new category. Target <= 1.1.
#
# Then, unless SA_BENCH_WORKERS=0, [jobs] runner = worker (issue 14) on
# sites that cost what Moodle costs: $SA_BENCH_BOOT_MS (300) ms of set-up
# per PHP process and $SA_BENCH_WORK_MS (100) ms of work per course (the
# fake's costs, FakeSite.set_costs), one run of each (no warm-up: 500
# courses of the loop take minutes):
#
#   4. archive with runner = worker, parallel=1, vs the bash loop of
#      backup.php (1.). Target <= 0.35.
#   5. The same with parallel=2, vs the loop run two at a time by
#      `xargs -P2`. Target <= 0.35.
#   6. restore with runner = worker, parallel=1, vs the loop of
#      restore_backup.php (3.). Target <= 0.35.
#   7. purge --side archive --confirm of what 6. restored (bridge
#      workers, parallel=1), vs a loop of one bridge run per course
#      (`php sessionarchiver-bridge.php --recyclebin=no delete-course`,
#      what a process per course costs: Moodle 4.5.6's delete_course.php
#      dies half way with its recycle bin off) over what the loop of 6.
#      restored. Target <= 0.35.
#
# Then, unless SA_BENCH_SHARED=0, a shared archive (issue 15), one run of
# each, backup.php burning $SA_BENCH_OPS_CPU s of CPU per course:
#
#   8. two hosts (two `archive --share` processes, each its own index and
#      [store] host, parallel=1) archiving the session at once, vs one
#      host (one process, parallel=1). Target <= 0.6.
#      SA_BENCH_OPS_ONLY=shared runs this one alone.
#
# During 4. the resident memory of the bridge workers is sampled: the
# largest in the first and in the last quarter of the run are printed
# (they must stay flat: a worker is recycled after [jobs] worker_courses).
#
# Every archive run starts from an empty store (sessionarchiver init) and a
# fresh index; every restore run restores into a new category. Each timed
# command runs once as a warm-up, then $SA_BENCH_OPS_RUNS (2) times,
# alternating with its baseline; the median is kept. After each run the
# result is checked (N backups in the store, N courses restored). Runs
# during which other processes used more than 10% of the CPUs are marked
# "others N!" (their cpu-s) and a warning ends the output.
#
# SA_BENCH_PERF=1 also records, on one extra run of each tool command
# (untimed), `perf record -g` into ops/perf-{archive,restore}.data and
# `strace -c -f` into ops/strace-{archive,restore}.txt, with reports beside.
# Everything lives in $SA_BENCH_DIR (default /var/tmp/sessionarchiver-bench)
# /ops, recreated by each run (~20 MB). Exit status: 0 all targets met,
# 1 a target missed, 2 could not run.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -x "$1/sessionarchiver" ]; then
	echo "usage: $0 BUILD_DIR (with BUILD_DIR/sessionarchiver built)" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
sa=$(cd "$1" && pwd)/sessionarchiver
python=/usr/bin/python3
php=$(command -v php || true)
bench_dir=${SA_BENCH_DIR:-/var/tmp/sessionarchiver-bench}
courses=${SA_BENCH_OPS_COURSES:-500}
runs=${SA_BENCH_OPS_RUNS:-2}
cpu=${SA_BENCH_OPS_CPU:-0.2}
session=2025-2026
ops=$bench_dir/ops
db=$ops/mariadb
sites=$ops/sites
missed=0
noisy=

if [ -z "$php" ] || ! "$python" -c 'import pymysql' 2>/dev/null ||
	{ ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; }
then
	echo "bench-ops: needs php, mariadbd and python3-pymysql" >&2
	exit 2
fi

# --- helpers ---------------------------------------------------------------

stop_db() {
	"$python" "$repo/tests/integration/harness/mariadb.py" stop "$db" \
		>/dev/null 2>&1 || true
}
trap stop_db EXIT
trap 'exit 2' INT TERM HUP

report() {
	local name=$1 value=$2 unit=$3 base=$4 base_name=$5 target=$6
	local ratio verdict
	ratio=$(awk -v a="$value" -v b="$base" \
		'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
	verdict=$(awk -v r="$ratio" -v t="$target" \
		'BEGIN { print (r <= t) ? "PASS" : "MISS" }')
	[ "$verdict" = PASS ] || missed=1
	printf '%s: %s %s (ratio %s vs %s, target <= %sx) %s\n' \
		"$name" "$value" "$unit" "$ratio" "$base_name" "$target" \
		"$verdict"
}

# timed -- CMD...: sets T (wall s), CPU (cpu s of the command and its
# children) and OTHER (cpu s the rest of the machine used meanwhile).
timed() {
	local out
	out=$("$python" "$here/measure.py" -- "$@")
	read -r T _ CPU OTHER <<<"$out"
	if awk -v o="$OTHER" -v t="$T" -v n="$(nproc)" \
		'BEGIN { exit !(o > 0.1 * t * n) }'; then
		noisy=1
		CPU="$CPU, others $OTHER!"
	fi
}

# true median (the mean of the middle two for an even count)
median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]
		else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# write_conf FILE STORE INDEX PARALLEL [TARGET]: a 0600 config.
write_conf() {
	local f=$1
	(
		umask 077
		cat >"$f" <<EOF
[store]
path = $2
index = $3
[source]
moodle = $src
php = $php
[archive]
moodle = $arc
php = $php
${5:+target = $5}
[jobs]
parallel = $4
timeout = 10m
runner = ${RUNNER:-cli}
EOF
	)
	chmod 600 "$f"
}

count_mbz() { find "$1" -name '*.mbz' -type f | wc -l; }

check_count() {
	local what=$1 got=$2
	if [ "$got" -ne "$courses" ]; then
		echo "bench-ops: $what: $got, not $courses" >&2
		exit 2
	fi
}

# --- sites -----------------------------------------------------------------

rm -rf "$ops"
mkdir -p "$ops"
echo "ops: starting MariaDB in $db, creating the sites ($courses courses)"
start=$EPOCHREALTIME
sock=$("$python" "$repo/tests/integration/harness/mariadb.py" start "$db")
"$python" "$here/bench-ops.py" sites --socket "$sock" --root "$sites" \
	--courses "$courses" >"$ops/sites.out"
src=$(sed -n 1p "$ops/sites.out")
arc=$(sed -n 2p "$ops/sites.out")
list=$sites/courses.tsv
echo "ops: sites ready in $(awk -v a="$start" -v b="$EPOCHREALTIME" \
	'BEGIN { printf "%.1f", b - a }') s"

cat >"$ops/loop-backup.sh" <<'EOF'
#!/bin/bash
# the baseline: backup.php for each course, the file moved into a store tree
set -e
php=$1 site=$2 store=$3 tmp=$4 list=$5
while IFS=$'\t' read -r id folder; do
	d=$tmp/$id
	mkdir -p "$d" "$store/$folder"
	"$php" "$site/admin/cli/backup.php" --courseid="$id" --destination="$d" \
		>/dev/null
	mv "$d"/*.mbz "$store/$folder/"
	rmdir "$d"
done <"$list"
EOF
cat >"$ops/loop-backup-one.sh" <<'EOF'
#!/bin/bash
# one course of the baseline, for xargs -P2: ID FOLDER
set -e
php=$1 site=$2 store=$3 tmp=$4 id=$5 folder=$6
d=$tmp/$id
mkdir -p "$d" "$store/$folder"
"$php" "$site/admin/cli/backup.php" --courseid="$id" --destination="$d" \
	>/dev/null
mv "$d"/*.mbz "$store/$folder/"
rmdir "$d"
EOF
cat >"$ops/loop-delete.sh" <<'EOF'
#!/bin/bash
# the baseline of 7.: one bridge run per course deleted
set -e
php=$1 bridge=$2 site=$3 list=$4
while IFS= read -r id; do
	"$php" "$bridge" --moodle="$site" --recyclebin=no delete-course \
		--id="$id" >/dev/null
done <"$list"
EOF
cat >"$ops/loop-restore.sh" <<'EOF'
#!/bin/bash
# the baseline: restore_backup.php for each backup, into one category
set -e
php=$1 site=$2 cat=$3 list=$4
while IFS= read -r f; do
	"$php" "$site/admin/cli/restore_backup.php" --file="$f" \
		--categoryid="$cat" >/dev/null
done <"$list"
EOF

cat >"$ops/run-shared.sh" <<'EOF'
#!/bin/bash
# the hosts of a shared archive, at once: SA SESSION CONF...
sa=$1 session=$2
shift 2
pids=()
for conf in "$@"; do
	"$sa" -q -c "$conf" archive "$session" --share &
	pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
EOF

# --- runs ------------------------------------------------------------------

# archive_tool TAG PARALLEL: one timed archive into a new store; T, CPU.
archive_tool() {
	local d=$ops/$1
	rm -rf "$d"
	mkdir -p "$d"
	"$sa" -q init --store "$d/store"
	write_conf "$d/sa.conf" "$d/store" "$d/index.db" "$2"
	timed "$sa" -q -c "$d/sa.conf" archive "$session"
	check_count "archive $1: backups in the store" \
		"$(count_mbz "$d/store/$session")"
}

# archive_loop TAG: one timed baseline loop into a new store tree.
archive_loop() {
	local d=$ops/$1
	rm -rf "$d"
	mkdir -p "$d/store" "$d/tmp"
	timed bash "$ops/loop-backup.sh" "$php" "$src" "$d/store" "$d/tmp" \
		"$list"
	check_count "loop $1: backups in the store" "$(count_mbz "$d/store")"
}

ncat=0
new_category() {
	ncat=$((ncat + 1))
	"$python" "$here/bench-ops.py" category --root "$sites" --site arc \
		--name "bench-$1-$ncat"
}
restored_in() {
	"$python" "$here/bench-ops.py" count --root "$sites" --site arc \
		--category "$1"
}

# restore_tool TAG: a copy of the archived store, indexed (untimed), then
# one timed restore into a new category.
restore_tool() {
	local d=$ops/$1 cat
	rm -rf "$d"
	mkdir -p "$d"
	cp -a "$pristine" "$d/store"
	cat=$(new_category "$1")
	write_conf "$d/sa.conf" "$d/store" "$d/index.db" 1 "id:$cat"
	"$sa" -q -c "$d/sa.conf" index
	timed "$sa" -q -c "$d/sa.conf" restore "$session"
	check_count "restore $1: courses in category $cat" \
		"$(restored_in "$cat")"
	worker_cat=$cat
}

restore_loop() {
	local cat
	cat=$(new_category "$1")
	timed bash "$ops/loop-restore.sh" "$php" "$arc" "$cat" "$ops/mbz.list"
	check_count "loop $1: courses in category $cat" "$(restored_in "$cat")"
	loop_cat=$cat
}

# shared_tool TAG HOSTS: one timed archive of the session by HOSTS processes
# running archive --share at once, each with parallel=1, its own index and
# host name; checks every course is backed up once.
shared_tool() {
	local d=$ops/$1 i confs=()
	rm -rf "$d"
	mkdir -p "$d"
	"$sa" -q init --store "$d/store"
	for i in $(seq "$2"); do
		write_conf "$d/sa-$i.conf" "$d/store" "$d/index-$i.db" 1
		sed -i "/^\[store\]/a host = bench$i" "$d/sa-$i.conf"
		confs+=("$d/sa-$i.conf")
	done
	timed bash "$ops/run-shared.sh" "$sa" "$session" "${confs[@]}"
	check_count "shared archive $1: backups in the store" \
		"$(count_mbz "$d/store/$session")"
	check_count "shared archive $1: manifest lines" \
		"$(cat "$d/store/$session/.session"/manifest*.jsonl | wc -l)"
}

# bench NAME TOOLFN LOOPFN [ARG]: warm-up of each, then runs alternating;
# sets TT, TL (median wall s) and prints every run.
bench() {
	local name=$1 tool=$2 loop=$3 arg=${4:-} i t=() l=() ct=() cl=()
	echo "$name: warm-up"
	"$tool" "$name-warm" $arg
	"$loop" "$name-warm-loop"
	for i in $(seq "$runs"); do
		if [ $((i % 2)) -eq 1 ]; then
			"$loop" "$name-loop-$i"; l+=("$T"); cl+=("$CPU")
			"$tool" "$name-$i" $arg; t+=("$T"); ct+=("$CPU")
		else
			"$tool" "$name-$i" $arg; t+=("$T"); ct+=("$CPU")
			"$loop" "$name-loop-$i"; l+=("$T"); cl+=("$CPU")
		fi
	done
	TT=$(printf '%s\n' "${t[@]}" | median)
	TL=$(printf '%s\n' "${l[@]}" | median)
	echo "  $name: sessionarchiver wall ${t[*]} s (cpu ${ct[*]});" \
		"loop wall ${l[*]} s (cpu ${cl[*]})"
}

only=${SA_BENCH_OPS_ONLY:-}
if [ -z "$only" ]; then

# 1. archive, parallel=1, no fault
"$python" "$here/bench-ops.py" fault --root "$sites" --site src --op backup
bench archive1 archive_tool archive_loop 1
t_a1=$TT l_a1=$TL
pristine=$ops/archive1-1/store
find "$pristine/$session" -name '*.mbz' -type f | sort >"$ops/mbz.list"

# 3. restore, parallel=1 (before 2: it restores the backups of 1)
bench restore1 restore_tool restore_loop
t_r1=$TT l_r1=$TL

if [ -n "${SA_BENCH_PERF:-}" ]; then
	echo "perf: one archive and one restore under perf, then strace"
	for op in archive restore; do
		if [ $op = archive ]; then fn=archive_tool; a=1
		else fn=restore_tool; a=; fi
		# perf record wraps the timed command through "timed"
		sa_real=$sa
		sa=$ops/perf-wrap.sh
		printf '#!/bin/sh\nexec perf record -q -g -o %s -- %s "$@"\n' \
			"$ops/perf-$op.data" "$sa_real" >"$sa"
		chmod +x "$sa"
		"$fn" "perf-$op" $a || true
		printf '#!/bin/sh\nexec strace -c -f -o %s %s "$@"\n' \
			"$ops/strace-$op.txt" "$sa_real" >"$sa"
		"$fn" "strace-$op" $a || true
		sa=$sa_real
		perf report -i "$ops/perf-$op.data" --stdio --no-children \
			--comms sessionarchiver --percent-limit 1 >"$ops/perf-$op.txt" 2>/dev/null || true
		echo "perf: $ops/perf-$op.txt, $ops/strace-$op.txt"
	done
fi

# 2. archive, parallel=2, backup.php burning cpu:S on every course
"$python" "$here/bench-ops.py" fault --root "$sites" --site src --op backup \
	--mode "cpu:$cpu"
bench archive2 archive_tool archive_loop 2
t_a2=$TT l_a2=$TL
"$python" "$here/bench-ops.py" fault --root "$sites" --site src --op backup

# 4.-6. runner = worker on sites with Moodle's costs
if [ "${SA_BENCH_WORKERS:-1}" != 0 ]; then
	boot=${SA_BENCH_BOOT_MS:-300} work=${SA_BENCH_WORK_MS:-100}
	for s in src arc; do
		"$python" "$here/bench-ops.py" costs --root "$sites" --site $s \
			--bootstrap-ms "$boot" --work-ms "$work"
	done
	echo "workers: set-up $boot ms per PHP process, $work ms per course"
	archive_loop worker-loop1; l_w1=$T
	echo "  loop of backup.php: $T s (cpu $CPU)"
	rm -f "$ops/rss.stop"
	"$python" "$here/bench-ops.py" rss --until "$ops/rss.stop" \
		>"$ops/rss.out" &
	rss_pid=$!
	RUNNER=worker archive_tool worker1 1; t_w1=$T
	touch "$ops/rss.stop"
	wait "$rss_pid"
	read -r rss_first rss_last rss_max <"$ops/rss.out"
	echo "  archive, runner = worker: $T s (cpu $CPU)"
	d=$ops/worker-loop2
	rm -rf "$d"
	mkdir -p "$d/store" "$d/tmp"
	timed xargs -P2 -L1 -a "$list" bash "$ops/loop-backup-one.sh" \
		"$php" "$src" "$d/store" "$d/tmp"
	check_count "xargs -P2 loop: backups in the store" \
		"$(count_mbz "$d/store")"
	l_w2=$T
	echo "  xargs -P2 loop of backup.php: $T s (cpu $CPU)"
	RUNNER=worker archive_tool worker2 2; t_w2=$T
	echo "  archive, runner = worker, parallel=2: $T s (cpu $CPU)"
	restore_loop worker-restore-loop; l_w3=$T
	echo "  loop of restore_backup.php: $T s (cpu $CPU)"
	RUNNER=worker restore_tool worker-restore; t_w3=$T
	echo "  restore, runner = worker: $T s (cpu $CPU)"
	"$python" "$here/bench-ops.py" ids --root "$sites" --site arc \
		--category "$loop_cat" >"$ops/delete.list"
	timed bash "$ops/loop-delete.sh" "$php" \
		"$repo/moodle/bridge/sessionarchiver-bridge.php" "$arc" \
		"$ops/delete.list"
	l_w4=$T
	echo "  loop of one bridge delete-course per course: $T s (cpu $CPU)"
	timed "$sa" -q -c "$ops/worker-restore/sa.conf" purge "$session" \
		--side archive --confirm
	t_w4=$T
	check_count "courses deleted by purge" "$(( courses - $("$python" \
		"$here/bench-ops.py" ids --root "$sites" --site arc \
		--category "$worker_cat" | wc -l) ))"
	echo "  purge --side archive: $T s (cpu $CPU)"
	for s in src arc; do
		"$python" "$here/bench-ops.py" costs --root "$sites" --site $s \
			--bootstrap-ms 0 --work-ms 0
	done
fi

fi # SA_BENCH_OPS_ONLY

# 8. a shared archive: two hosts vs one
if [ "${SA_BENCH_SHARED:-1}" != 0 ]; then
	"$python" "$here/bench-ops.py" fault --root "$sites" --site src \
		--op backup --mode "cpu:$cpu"
	shared_tool shared1 1; t_s1=$T
	echo "  archive --share, 1 host: $T s (cpu $CPU)"
	shared_tool shared2 2; t_s2=$T
	echo "  archive --share, 2 hosts: $T s (cpu $CPU)"
	"$python" "$here/bench-ops.py" fault --root "$sites" --site src \
		--op backup
fi

echo
if [ -z "$only" ]; then
report "archive $courses courses, parallel=1" "$t_a1" s "$l_a1" \
	"bash loop of backup.php" 1.1
report "archive $courses courses, parallel=2, cpu:$cpu" "$t_a2" s "$l_a2" \
	"sequential bash loop of backup.php" 0.6
report "restore $courses courses, parallel=1" "$t_r1" s "$l_r1" \
	"bash loop of restore_backup.php" 1.1
fi
if [ -z "$only" ] && [ "${SA_BENCH_WORKERS:-1}" != 0 ]; then
	report "archive $courses courses, runner = worker, parallel=1" \
		"$t_w1" s "$l_w1" "bash loop of backup.php" 0.35
	report "archive $courses courses, runner = worker, parallel=2" \
		"$t_w2" s "$l_w2" "xargs -P2 loop of backup.php" 0.35
	report "restore $courses courses, runner = worker" "$t_w3" s "$l_w3" \
		"bash loop of restore_backup.php" 0.35
	report "purge $courses courses, bridge workers" "$t_w4" s "$l_w4" \
		"bash loop of one bridge delete-course each" 0.35
	echo "bridge worker RSS: largest $rss_first KiB in the first quarter" \
		"of the archive, $rss_last KiB in the last, $rss_max KiB overall"
fi
if [ "${SA_BENCH_SHARED:-1}" != 0 ]; then
	report "archive $courses courses, 2 hosts --share, cpu:$cpu" \
		"$t_s2" s "$t_s1" "1 host" 0.6
fi
if [ -n "$noisy" ]; then
	echo "WARNING: other processes competed for the CPUs (runs marked" \
		"'others N!' above): wall times and ratios are noisy; run" \
		"again on a quiet machine" >&2
fi
exit "$missed"
