#!/bin/sh
# pre-backup-log.sh -- a [hooks] pre_backup example: log each course, and
# refuse the courses listed in an exclusion file.
#
# sessionarchiver runs the pre_backup program before each course backup,
# without a shell of its own, as the user running sessionarchiver (root under
# cron), with stdin from /dev/null, within [hooks] timeout, and with only
# this environment:
#
#   PATH, LANG            a fixed system PATH, C.UTF-8
#   SA_SESSION            the session's name, e.g. 2025-2026
#   SA_SOURCE_COURSE_ID   the course's id on the source Moodle
#   SA_SHORTNAME          its shortname
#   SA_FULLNAME           its full name
#   SA_CATEGORY_PATH      its category, relative to the session's (may be "")
#   SA_MBZ                the backup's path in the store (not written yet)
#   SA_MOODLE             the source Moodle's code directory
#
# Exit 0 lets the backup go on. Any other exit refuses the course: it is
# recorded as failed with the last lines this script printed (see
# `sessionarchiver list SESSION`), and the run goes on with the next course.
# Several courses may run at once ([jobs] parallel): each line is appended
# with one write, so lines never mix.
#
# Install:
#   install -m 755 pre-backup-log.sh /usr/local/lib/sessionarchiver/pre-backup
#   [hooks]
#   pre_backup = /usr/local/lib/sessionarchiver/pre-backup
#
# The exclusion file holds one course per line, a shortname or a source
# course id; blank lines and lines starting with '#' are ignored.

LOG=/var/log/sessionarchiver/pre-backup.log
EXCLUDE=/etc/sessionarchiver/exclude-courses

set -u

now=$(date '+%Y-%m-%d %H:%M:%S')
mkdir -p "$(dirname "$LOG")"

excluded=no
if [ -r "$EXCLUDE" ]; then
	# -x: whole line, -F: no pattern characters in a shortname
	if grep -v '^#' "$EXCLUDE" | grep -qxF -e "$SA_SHORTNAME" \
		-e "$SA_SOURCE_COURSE_ID"; then
		excluded=yes
	fi
fi

if [ "$excluded" = yes ]; then
	printf '%s\t%s\t%s\t%s\trefused (listed in %s)\n' "$now" "$SA_SESSION" \
		"$SA_SOURCE_COURSE_ID" "$SA_SHORTNAME" "$EXCLUDE" >>"$LOG"
	echo "course '$SA_SHORTNAME' is listed in $EXCLUDE: not archived"
	exit 1
fi

printf '%s\t%s\t%s\t%s\t%s/%s\n' "$now" "$SA_SESSION" "$SA_SOURCE_COURSE_ID" \
	"$SA_SHORTNAME" "$SA_CATEGORY_PATH" "$SA_FULLNAME" >>"$LOG"
exit 0
