#!/usr/bin/env bash
# The sessionarchiver demo: `make demo`, or tests/demo/run-demo.sh BUILD_DIR.
#
# Runs the main job end to end as far as the code goes today, between two
# fake Moodle 4.5.6 sites on a private MariaDB, and says where it stops:
#   1. a clean demo directory ($SA_DEMO_DIR, default /var/tmp/sessionarchiver-demo)
#   2. a private MariaDB, a source site with a session of 30 courses, an empty archive site
#   3. sessionarchiver init
#   4. archive (the real command when it exists, else a marked stand-in that
#      uses the source site's own admin/cli/backup.php)
#   5. index, status, list, check
#   6. restore, 7. verify (when they exist)
#   8. sessionarchiverfs: mount the store, look at it
# The mount and MariaDB stay up at the end; DIR/stop-demo.sh stops both.
# A second run stops and removes the first one's demo first.
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
STANDIN_PY=$REPO/tests/demo/archive-standin.py
MARKER=.sessionarchiver-demo
STORE=$DIR/store
INDEX=$DIR/index.db
MNT=$DIR/mnt
CONF=$DIR/sessionarchiver.conf
START=$SECONDS

# sessionarchiver and sessionarchiverfs are called by name, from BUILD.
export PATH=$BUILD:$PATH
# The index goes where --index says; keep the tool away from ~/.local/state.
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
# Prints a command as it is run, quoted so that it can be pasted, then runs it.
show() {
	local q
	q=$(printf '%q ' "$@")
	printf '+ %s\n' "${q% }"
}
# show_piped SUFFIX CMD...: the same, with a shell suffix printed as is.
show_piped() {
	local suffix=$1 q
	shift
	q=$(printf '%q ' "$@")
	printf '+ %s %s\n' "${q% }" "$suffix"
}
run() {
	show "$@"
	"$@"
}
# Same, but a non-zero exit is reported and the demo goes on.
try() {
	local rc=0
	show "$@"
	"$@" || rc=$?
	[ $rc -eq 0 ] || note "   (exit code $rc)"
	return 0
}
die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}
# Does `sessionarchiver CMD --help` exist? (exit 0 and no "unknown command")
have_command() {
	sessionarchiver "$1" --help >/dev/null 2>&1
}
db_running() {
	local pid
	[ -f "$DIR/db/mariadbd.pid" ] || return 1
	pid=$(cat "$DIR/db/mariadbd.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# ---------------------------------------------------------------- checks
for b in sessionarchiver sessionarchiverfs; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b missing: run make first"
done
for p in php fusermount3 mountpoint "$PY"; do
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
	fusermount3 -u $(printf %q "$MNT")
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
show_piped ">$DIR/sites/source.json" "$PY" "$FAKESITE_PY" create --socket "$SOCK" \
	--root "$DIR/sites" --name source --session "$SESSION" --courses "$NCOURSES"
"$PY" "$FAKESITE_PY" create --socket "$SOCK" --root "$DIR/sites" --name source \
	--session "$SESSION" --courses "$NCOURSES" >"$DIR/sites/source.json"
show_piped ">$DIR/sites/archive.json" "$PY" "$FAKESITE_PY" create --socket "$SOCK" \
	--root "$DIR/sites" --name archive
"$PY" "$FAKESITE_PY" create --socket "$SOCK" --root "$DIR/sites" --name archive >"$DIR/sites/archive.json"
# A summary (the JSON holds the sites' DB passwords: not printed).
"$PY" - "$DIR/sites/source.json" "$DIR/sites/archive.json" <<'EOF'
import collections, json, sys
src, arc = (json.load(open(p)) for p in sys.argv[1:3])
s = src["session"]
print("source  site: %s  (siteidentifier %s..)" % (src["site_dir"], src["siteidentifier"][:8]))
print("archive site: %s  (siteidentifier %s.., no courses yet)" % (arc["site_dir"], arc["siteidentifier"][:8]))
per = collections.Counter(c["category_path"] for c in s["courses"])
print("source session %s: category id %d, %d courses in %d categories:"
      % (s["session"], s["session_category"], len(s["courses"]), len(s["categories"])))
for path in sorted(s["categories"]):
    print("  %-40s %2d course(s)" % (path, per.get(path, 0)))
print("  (a few courses have tricky shortnames on purpose: %s)" % ", ".join(sorted(s["tricky"])))
EOF

# The configuration the real operations will read (platforms by their Moodle
# directory; config.php gives the database). Passwords never go in it.
cat >"$CONF" <<EOF
# sessionarchiver demo configuration (see examples/sessionarchiver.conf)
[store]
path = $STORE
index = $INDEX

[source]
moodle = $DIR/sites/source/moodle
php = $(command -v php)

[archive]
moodle = $DIR/sites/archive/moodle
php = $(command -v php)
target = path:/Archives

[session]
category = idnumber:{Y}-{Y+1}
name = {Y}-{Y+1}
EOF
note "configuration for the operations: $CONF"

# ---------------------------------------------------------------- 3
step "3. create the store"
run sessionarchiver init --store "$STORE"
run cat "$STORE/.sessionarchiver/store.ini"

# ---------------------------------------------------------------- 4
step "4. archive: back the session up into the store (source platform)"
if have_command archive; then
	try sessionarchiver -c "$CONF" --store "$STORE" --index "$INDEX" archive "$SESSION"
else
	note "********************************************************************************"
	note "archive: not implemented yet (issue 5); this demo backs the courses up with the"
	note "source Moodle's own admin/cli/backup.php and lays them out the way archive will"
	note "(STORE/$SESSION/<category path>/<shortname>.mbz, .session/manifest.jsonl and journal)"
	note "********************************************************************************"
	show "$PY" "$STANDIN_PY" "$DIR/sites/source/site.json" "$SESSION" "$STORE" "$DIR/tmp"
	rc=0
	"$PY" "$STANDIN_PY" "$DIR/sites/source/site.json" "$SESSION" "$STORE" "$DIR/tmp" || rc=$?
	case $rc in
	0) ;;
	6) note "   (exit code 6: some courses could not be backed up; see FAILED above)" ;;
	*) die "the archive stand-in failed (exit code $rc)" ;;
	esac
fi
try ls -l "$STORE/$SESSION"
try ls -la "$STORE/$SESSION/.session"
if [ -f "$STORE/$SESSION/.session/manifest.jsonl" ]; then
	show_piped "| cut -c1-400" head -n 1 "$STORE/$SESSION/.session/manifest.jsonl"
	head -n 1 "$STORE/$SESSION/.session/manifest.jsonl" | cut -c1-400
fi

# ---------------------------------------------------------------- 5
step "5. index the store, then status, list and check"
run sessionarchiver --store "$STORE" --index "$INDEX" index
try sessionarchiver --store "$STORE" --index "$INDEX" status
try sessionarchiver --store "$STORE" --index "$INDEX" status "$SESSION"
show_piped "| head -15" sessionarchiver --store "$STORE" --index "$INDEX" list "$SESSION"
rc=0
sessionarchiver --store "$STORE" --index "$INDEX" list "$SESSION" >"$DIR/tmp/list.txt" || rc=$?
head -15 "$DIR/tmp/list.txt"
note "   ... ($(wc -l <"$DIR/tmp/list.txt") lines in all)"
[ $rc -eq 0 ] || note "   (exit code $rc)"
# Say so when a failure recorded in the journals does not reach the index.
jfail=$(cat "$STORE/$SESSION"/.session/journal-*.jsonl 2>/dev/null | grep -c '"event": *"backup_failed"' || true)
lfail=$(grep -c '^failed' "$DIR/tmp/list.txt" || true)
if [ "${jfail:-0}" -gt "${lfail:-0}" ]; then
	note "note: the journal records $jfail backup_failed event(s) but the index shows $lfail failed course(s):"
	note "      a course that failed before leaving a file or a manifest line is not in status or list yet"
fi
try sessionarchiver --store "$STORE" --index "$INDEX" check "$SESSION"

# ---------------------------------------------------------------- 6, 7
step "6. restore: reintegrate the session into the archive Moodle"
if have_command restore; then
	try sessionarchiver -c "$CONF" --store "$STORE" --index "$INDEX" restore "$SESSION"
else
	note "restore: not implemented yet (issue 6)"
fi

step "7. verify: compare the archive with the source"
if have_command verify; then
	try sessionarchiver -c "$CONF" --store "$STORE" --index "$INDEX" verify "$SESSION"
else
	note "verify: not implemented yet (issue 7)"
fi
note "purge: not implemented yet (it needs a passing verify first)"

# ---------------------------------------------------------------- 8
step "8. mount the store with sessionarchiverfs (read-only)"
mkdir -p "$MNT"
run sessionarchiverfs "$STORE" "$MNT" -o "index=$INDEX"
for _ in $(seq 50); do
	mountpoint -q "$MNT" && break
	sleep 0.1
done
mountpoint -q "$MNT" || die "$MNT is not mounted"
run ls "$MNT"
show_piped "| head -40" ls -R "$MNT/$SESSION"
{ ls -R "$MNT/$SESSION" || true; } | head -40
one=$(cd "$STORE/$SESSION" 2>/dev/null && find . -name '*.mbz' -path './Sciences/*' | sort | head -1) || true
[ -n "$one" ] || one=$(cd "$STORE/$SESSION" 2>/dev/null && find . -name '*.mbz' | sort | head -1) || true
[ -n "$one" ] || die "no backup in the store to compare"
one=${one#./}
run cmp "$MNT/$SESSION/$one" "$STORE/$SESSION/$one"
note "same bytes through the mount as in the store: $SESSION/$one"
run sessionarchiver inspect "$MNT/$SESSION/$one"
show_piped "| grep -o '\"sha256\": *\"[0-9a-f]*\"'" grep -F "\"file\": \"$one\"" "$STORE/$SESSION/.session/manifest.jsonl"
grep -F "\"file\": \"$one\"" "$STORE/$SESSION/.session/manifest.jsonl" | grep -o '"sha256": *"[0-9a-f]*"' || true

# ---------------------------------------------------------------- end
step "done in $((SECONDS - START)) s: the mount and MariaDB are still up"
cat <<EOF
What ran: init, archive ($(have_command archive && echo "sessionarchiver archive" ||
	echo "stand-in: backup.php, issue 5")), index, status, list, check, the mount.
Not yet:  $(for c in restore:6 verify:7; do have_command "${c%:*}" || printf '%s (issue %s), ' "${c%:*}" "${c#*:}"; done)purge.

Look around:
  export PATH=$BUILD:\$PATH
  ls -R $MNT/$SESSION
  sessionarchiver --store $STORE --index $INDEX status $SESSION
  sessionarchiver --store $STORE --index $INDEX list $SESSION
  sessionarchiver inspect $MNT/$SESSION/$one
  cat $STORE/$SESSION/.session/manifest.jsonl
  php $DIR/sites/source/moodle/admin/cli/backup.php --help

Stop everything:
  $DIR/stop-demo.sh
which runs:
  fusermount3 -u $MNT
  $PY $MARIADB_PY stop $DIR/db
(then rm -rf $DIR; running the demo again also cleans up first)
EOF
