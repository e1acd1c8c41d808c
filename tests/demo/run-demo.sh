#!/usr/bin/env bash
# The sessionarchiver demo: `make demo`, or tests/demo/run-demo.sh BUILD_DIR.
#
# Runs the whole annual cycle for real, between two fake Moodle 4.5.6 sites
# on a private MariaDB:
#   1. a clean demo directory ($SA_DEMO_DIR, default /var/tmp/sessionarchiver-demo)
#   2. a private MariaDB, a source site with a session of 30 courses, an empty archive site
#   3. sessionarchiver init, the configuration, the store mounted (sessionarchiverfs)
#   4. doctor
#   5. plan archive
#   6. archive, status
#   7. restore on the archive site
#   8. verify (PASS expected), the report
#   9. purge of the source: --preview, then --dry-run; it stops before a real
#      purge and says how to run it (--confirm)
# Each step prints its heading and the exact commands it runs ("+ ...").
# The mount and MariaDB stay up at the end; DIR/stop-demo.sh stops both.
# A second run stops and removes the first one's demo first.
#
# A step that fails is reported ("demo: STEP FAILED ...") and the demo goes
# on where it makes sense; the demo then exits 1 at the end, so that `make
# demo` and tests/integration/test_demo.py see it.
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR   (the directory holding sessionarchiver and sessionarchiverfs)" >&2
	exit 2
}
[ $# -eq 1 ] || usage

BUILD=$(cd "$1" && pwd) || usage
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=${SA_DEMO_DIR:-/var/tmp/sessionarchiver-demo}
case $DIR in /*) ;; *) DIR=$PWD/$DIR ;; esac
DIR=${DIR%/}
SESSION=2025-2026
NCOURSES=30
PY=/usr/bin/python3
MARIADB_PY=$REPO/tests/integration/harness/mariadb.py
FAKESITE_PY=$REPO/tests/fakemoodle/fakesite.py
MARKER=.sessionarchiver-demo
STORE=$DIR/store
INDEX=$DIR/index.db
MNT=$DIR/mnt
CONF=$DIR/sessionarchiver.conf
START=$SECONDS
FAILED_STEPS=()

# sessionarchiver and sessionarchiverfs are called by name, from BUILD.
export PATH=$BUILD:$PATH
# The index goes where the configuration says; keep the tool away from
# ~/.local/state all the same.
export XDG_STATE_HOME=$DIR/state

CURRENT_STEP="checks"
step() {
	CURRENT_STEP=$*
	printf '\n== %s ==\n' "$*"
}
on_exit() {
	local rc=$?
	[ $rc -ne 0 ] || return 0
	printf '\ndemo: FAILED (exit code %d) in step "%s"\n' "$rc" "$CURRENT_STEP" >&2
	if [ -x "$DIR/stop-demo.sh" ]; then
		printf 'demo: what it started may still run: %s stops it\n' "$DIR/stop-demo.sh" >&2
	fi
}
trap on_exit EXIT
note() { printf '%s\n' "$*"; }
# The words of a command, each quoted (printf %q) only when the shell needs
# it, so that the line can be pasted.
quote() {
	local a q=
	for a in "$@"; do
		if [[ -n $a && $a != *[!A-Za-z0-9_./=:,@%+-]* ]]; then
			q+="$a "
		else
			q+="$(printf '%q' "$a") "
		fi
	done
	printf '%s' "${q% }"
}
# Prints a command as it is run, then runs it.
show() {
	printf '+ %s\n' "$(quote "$@")"
}
# show_piped SUFFIX CMD...: the same, with a shell suffix printed as is.
show_piped() {
	local suffix=$1
	shift
	printf '+ %s %s\n' "$(quote "$@")" "$suffix"
}
run() {
	show "$@"
	"$@"
}
# A step of the cycle that must succeed: on a non-zero exit the failure is
# printed plainly, recorded, and the demo goes on (it exits 1 at the end).
# Sets $RC.
RC=0
expect() {
	local want=$1
	shift
	RC=0
	show "$@"
	"$@" || RC=$?
	[ "$RC" -eq "$want" ] || fail "\`$*\` exited $RC, expected $want"
	return 0
}
# expect_head WANT N CMD...: the same, showing the first N lines of the output.
expect_head() {
	local want=$1 n=$2 all
	shift 2
	RC=0
	show_piped "| head -$n" "$@"
	"$@" >"$DIR/tmp/out.txt" 2>&1 || RC=$?
	head -n "$n" "$DIR/tmp/out.txt"
	all=$(wc -l <"$DIR/tmp/out.txt")
	if [ "$all" -gt "$n" ]; then
		note "   ... ($all lines in all; the last one:)"
		tail -n 1 "$DIR/tmp/out.txt"
	fi
	[ "$RC" -eq "$want" ] || fail "\`$*\` exited $RC, expected $want"
	return 0
}
fail() {
	FAILED_STEPS+=("$CURRENT_STEP: $*")
	note "********************************************************************************"
	note "demo: STEP FAILED: $*"
	note "      (a bug in the tool, or in this demo: nothing was worked around)"
	note "********************************************************************************"
}
# Same as run, but a non-zero exit is only reported (a look, not a step).
look() {
	local rc=0
	show "$@"
	"$@" || rc=$?
	[ $rc -eq 0 ] || note "   (exit code $rc)"
	return 0
}
# look_head N CMD...: the first N lines of CMD's output.
look_head() {
	local n=$1 rc=0
	shift
	show_piped "| head -$n" "$@"
	"$@" >"$DIR/tmp/out.txt" 2>&1 || rc=$?
	head -n "$n" "$DIR/tmp/out.txt"
	local all
	all=$(wc -l <"$DIR/tmp/out.txt")
	if [ "$all" -gt "$n" ]; then
		note "   ... ($all lines in all; the last one:)"
		tail -n 1 "$DIR/tmp/out.txt"
	fi
	[ $rc -eq 0 ] || note "   (exit code $rc)"
	return 0
}
die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}
db_running() {
	local pid
	[ -f "$DIR/db/mariadbd.pid" ] || return 1
	pid=$(cat "$DIR/db/mariadbd.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}
SA=(sessionarchiver -c "$CONF")

# ---------------------------------------------------------------- checks
for b in sessionarchiver sessionarchiverfs; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b missing: run make first"
done
for p in php fusermount3 mountpoint getfattr "$PY"; do
	command -v "$p" >/dev/null || die "$p not found: run tests/install-deps.sh (as root)"
done
[ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null ||
	die "mariadbd not found: run tests/install-deps.sh (as root)"
"$PY" -c 'import pymysql' 2>/dev/null ||
	die "python3-pymysql missing: run tests/install-deps.sh (as root)"
[ -e /dev/fuse ] || die "/dev/fuse missing: the mount needs FUSE (modprobe fuse, or a container with /dev/fuse)"

printf 'sessionarchiver demo: %s\n' "$DIR"
printf 'binaries: %s (on PATH for this demo)\n' "$BUILD"
sessionarchiver --version 2>&1 | head -1 || true

# ---------------------------------------------------------------- 1
step "1. clean demo directory"
if [ -e "$DIR" ] && [ ! -e "$DIR/$MARKER" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
	die "$DIR exists, is not empty and is not a demo directory (no $MARKER): not touching it; set SA_DEMO_DIR"
fi
if mountpoint -q "$MNT" 2>/dev/null || grep -qF " $MNT fuse" /proc/self/mounts; then
	note "a previous demo is still mounted on $MNT"
	run fusermount3 -u "$MNT" || run fusermount3 -uz "$MNT"
fi
if db_running; then
	note "a previous demo's MariaDB is still running"
	run "$PY" "$MARIADB_PY" stop "$DIR/db"
fi
if [ -e "$DIR" ]; then
	# never rm -rf through a live mount
	! grep -qF " $DIR/" /proc/self/mounts || die "something is still mounted under $DIR"
	run rm -rf "$DIR"
fi
run mkdir -p "$DIR"
touch "$DIR/$MARKER"
mkdir -p "$DIR/tmp" "$XDG_STATE_HOME"

# The stop script exists from here on, so that a failure below leaves a way out.
cat >"$DIR/stop-demo.sh" <<EOF
#!/usr/bin/env bash
# Stops the sessionarchiver demo in $DIR: unmounts the store, stops MariaDB.
# Safe to run twice. Then \`rm -rf $DIR\` removes everything.
set -u
if mountpoint -q $(printf %q "$MNT") 2>/dev/null; then
	echo "+ fusermount3 -u $(printf %q "$MNT")"
	fusermount3 -u $(printf %q "$MNT") || fusermount3 -uz $(printf %q "$MNT")
fi
echo "+ $PY $(printf %q "$MARIADB_PY") stop $(printf %q "$DIR/db")"
$PY $(printf %q "$MARIADB_PY") stop $(printf %q "$DIR/db")
EOF
chmod 755 "$DIR/stop-demo.sh"

# ---------------------------------------------------------------- 2
step "2. a private MariaDB and two fake Moodle sites"
show "$PY" "$MARIADB_PY" start "$DIR/db"
SOCK=$("$PY" "$MARIADB_PY" start "$DIR/db")
note "MariaDB is listening on $SOCK (unix socket only, no network)"
mkdir -p "$DIR/sites"
# --no-tricky: the session's shortnames are all plain, so that the cycle
# completes cleanly. The tricky names (slashes, dots, control characters,
# collisions, a course whose backup fails) are covered by the integration
# tests (tests/integration/test_archive.py, test_restore.py).
show_piped ">$DIR/sites/source.json" "$PY" "$FAKESITE_PY" create --socket "$SOCK" \
	--root "$DIR/sites" --name source --session "$SESSION" --courses "$NCOURSES" --no-tricky
"$PY" "$FAKESITE_PY" create --socket "$SOCK" --root "$DIR/sites" --name source \
	--session "$SESSION" --courses "$NCOURSES" --no-tricky >"$DIR/sites/source.json"
show_piped ">$DIR/sites/archive.json" "$PY" "$FAKESITE_PY" create --socket "$SOCK" \
	--root "$DIR/sites" --name archive
"$PY" "$FAKESITE_PY" create --socket "$SOCK" --root "$DIR/sites" --name archive >"$DIR/sites/archive.json"
# A summary (the JSON holds the sites' DB passwords: not printed).
"$PY" - "$DIR/sites/source.json" "$DIR/sites/archive.json" <<'EOF'
import collections, json, sys
src, arc = (json.load(open(p)) for p in sys.argv[1:3])
s = src["session"]
print("source  site: %s  (siteidentifier %s..)" % (src["site_dir"], src["siteidentifier"][:8]))
print("archive site: %s  (siteidentifier %s.., no courses yet,"
      " its default category \"Category 1\" is id 1)" % (arc["site_dir"], arc["siteidentifier"][:8]))
per = collections.Counter(c["category_path"] for c in s["courses"])
print("source session %s: category id %d, %d courses in %d categories:"
      % (s["session"], s["session_category"], len(s["courses"]), len(s["categories"])))
for path in sorted(s["categories"]):
    print("  %-40s %2d course(s)" % (path, per.get(path, 0)))
EOF

# ---------------------------------------------------------------- 3
step "3. the store, the configuration, the mount"
run sessionarchiver init --store "$STORE"
run cat "$STORE/.sessionarchiver/store.ini"

# Platforms by their Moodle directory: config.php gives the database (no
# password in this file). We run as root: Moodle's CLI runs as ourselves
# (no [source] user), which doctor reports as a WARN.
cat >"$CONF" <<EOF
# sessionarchiver demo configuration (every key: examples/sessionarchiver.conf)
[store]
path = $STORE
index = $INDEX

[source]
moodle = $DIR/sites/source/moodle
php = $(command -v php)

[archive]
moodle = $DIR/sites/archive/moodle
php = $(command -v php)
# where restored sessions go: the archive site's default category
target = id:1

[session]
category = idnumber:{Y}-{Y+1}
name = {Y}-{Y+1}

[jobs]
parallel = 4
EOF
note "configuration: $CONF"
run cat "$CONF"

mkdir -p "$MNT"
# rescan=2: the demo goes faster than the default 60 s re-scan of the store.
run sessionarchiverfs "$STORE" "$MNT" -o "index=$INDEX,config=$CONF,rescan=2"
for _ in $(seq 50); do
	mountpoint -q "$MNT" && break
	sleep 0.1
done
mountpoint -q "$MNT" || die "$MNT is not mounted"
look ls "$MNT"
look cat "$MNT/status"

# ---------------------------------------------------------------- 4
step "4. doctor: is everything in place?"
# WARN lines are fine (no system user as root, no mail server); a FAIL
# would be reported but the demo goes on.
expect 0 "${SA[@]}" doctor

# ---------------------------------------------------------------- 5
step "5. plan archive: what would be backed up"
expect_head 0 12 "${SA[@]}" plan archive "$SESSION"
note "the plan is also in the mount:"
look ls "$MNT/$SESSION"
look_head 8 cat "$MNT/$SESSION/plan"

# ---------------------------------------------------------------- 6
step "6. archive: back the session up into the store (source platform)"
expect 0 "${SA[@]}" archive "$SESSION"
expect 0 "${SA[@]}" status "$SESSION"
look_head 8 "${SA[@]}" list "$SESSION"
note "through the mount:"
look cat "$MNT/status"
look cat "$MNT/$SESSION/status"
look ls "$MNT/$SESSION"
look ls "$MNT/$SESSION/Sciences"
one=$(cd "$STORE/$SESSION" 2>/dev/null && find . -name '*.mbz' -path './Sciences/*' | sort | head -1) || true
[ -n "$one" ] || one=$(cd "$STORE/$SESSION" 2>/dev/null && find . -name '*.mbz' | sort | head -1) || true
one=${one#./}
if [ -n "$one" ]; then
	look getfattr -d --absolute-names "$MNT/$SESSION/$one"
	expect 0 cmp "$MNT/$SESSION/$one" "$STORE/$SESSION/$one"
	[ "$RC" -ne 0 ] || note "same bytes through the mount as in the store: $SESSION/$one"
else
	fail "no backup in the store after the archive"
fi

# ---------------------------------------------------------------- 7
step "7. restore: reintegrate the session into the archive Moodle"
expect 0 "${SA[@]}" restore "$SESSION"
expect 0 "${SA[@]}" status "$SESSION"
[ -z "$one" ] || look getfattr -d --absolute-names "$MNT/$SESSION/$one"

# ---------------------------------------------------------------- 8
step "8. verify: compare the archive with the source (both read live)"
expect 0 "${SA[@]}" verify "$SESSION"
look cat "$MNT/$SESSION/report"
note "the same through the mount: one command written to the session's control file"
note "(the daemon runs the command line as its child; what it starts is in log):"
show_piped "> $MNT/$SESSION/control" echo verify
if echo verify >"$MNT/$SESSION/control"; then
	# the daemon logs "verify (pid N) ended: ..." when its child exits
	for _ in $(seq 150); do
		grep -q 'verify (pid [0-9]*) ended' "$MNT/$SESSION/log" 2>/dev/null && break
		sleep 0.2
	done
	look cat "$MNT/$SESSION/log"
	grep -q 'verify (pid [0-9]*) ended: exit status 0' "$MNT/$SESSION/log" ||
		fail "echo verify > $MNT/$SESSION/control: no successful verify in $MNT/$SESSION/log"
else
	fail "echo verify > $MNT/$SESSION/control was refused"
fi

# ---------------------------------------------------------------- 9
step "9. purge the source: preview, then a dry run"
expect_head 0 15 "${SA[@]}" purge "$SESSION" --side source --preview
expect_head 0 6 "${SA[@]}" purge "$SESSION" --side source --dry-run
note "status counts the dry run's courses as done; nothing was deleted (the backups"
note "are still 'verified', not 'purged'):"
look cat "$MNT/$SESSION/status"
[ -z "$one" ] || look getfattr -d --absolute-names "$MNT/$SESSION/$one"

# ---------------------------------------------------------------- end
elapsed=$((SECONDS - START))
if [ ${#FAILED_STEPS[@]} -gt 0 ]; then
	step "done in $elapsed s, with ${#FAILED_STEPS[@]} failed step(s): the mount and MariaDB are still up"
	for f in "${FAILED_STEPS[@]}"; do note "  FAILED: $f"; done
else
	step "done in $elapsed s: the mount and MariaDB are still up"
	note "The whole cycle ran: init, doctor, plan, archive, restore, verify (PASS),"
	note "purge --preview and --dry-run. Nothing was deleted on the source."
fi
cat <<EOF

The demo stops here, before the real purge of the source. It is left to you
(it deletes the 30 courses of the fake source site; it is refused without a
passing verify newer than the last restore):
  export PATH=$BUILD:\$PATH
  sessionarchiver -c $CONF purge $SESSION --side source --confirm
or through the mount:
  echo 'purge source confirm' > $MNT/$SESSION/control

Look around:
  ls -R $MNT/$SESSION
  cat $MNT/status $MNT/$SESSION/status $MNT/$SESSION/report
  cat $MNT/$SESSION/log
  sessionarchiver -c $CONF status $SESSION
  sessionarchiver -c $CONF list $SESSION
  sessionarchiver inspect $MNT/$SESSION/$one

Stop everything:
  $DIR/stop-demo.sh
which runs:
  fusermount3 -u $MNT
  $PY $MARIADB_PY stop $DIR/db
(then rm -rf $DIR; running the demo again also cleans up first)
EOF
if [ ${#FAILED_STEPS[@]} -gt 0 ]; then
	CURRENT_STEP="the cycle: ${#FAILED_STEPS[@]} step(s) FAILED, listed above"
	exit 1
fi
