#!/bin/sh
# post-restore-hide.sh -- a [hooks] post_restore example: hide each course
# once it is restored on the archive Moodle, so that students do not find
# last year's course among this year's.
#
# sessionarchiver runs the post_restore program after each course restore,
# without a shell of its own, as the user running sessionarchiver, with stdin
# from /dev/null, within [hooks] timeout, and with only this environment:
#
#   PATH, LANG             a fixed system PATH, C.UTF-8
#   SA_SESSION             the session's name, e.g. 2025-2026
#   SA_SOURCE_COURSE_ID    the course's id on the source Moodle
#   SA_ARCHIVE_COURSE_ID   the restored course's id on the archive Moodle
#   SA_SHORTNAME           the restored course's shortname
#   SA_CATEGORY_ID         the archive category it was restored into
#   SA_MBZ                 the backup's path in the store
#   SA_MOODLE              the archive Moodle's code directory
#
# Exit 0 when done. Any other exit records the hook's failure against the
# course (the restore itself stays); `sessionarchiver restore SESSION
# --rerun-hooks` runs the hook again where it failed.
#
# The course is hidden through Moodle's own API by the PHP bridge shipped
# with sessionarchiver (never by writing Moodle's tables):
#   php sessionarchiver-bridge.php --moodle=DIR hide-course --id=N
# run as Moodle's system user, like Moodle's admin/cli scripts.
#
# Install:
#   install -m 755 post-restore-hide.sh /usr/local/lib/sessionarchiver/post-restore
#   [hooks]
#   post_restore = /usr/local/lib/sessionarchiver/post-restore

PHP=/usr/bin/php
# the user Moodle runs as: the [archive] user of the configuration
MOODLE_USER=www-data
# where `make install` puts the bridge (PREFIX /usr or /usr/local)
BRIDGE=
for b in /usr/share/sessionarchiver/sessionarchiver-bridge.php \
	/usr/local/share/sessionarchiver/sessionarchiver-bridge.php; do
	if [ -r "$b" ]; then
		BRIDGE=$b
		break
	fi
done

set -u

if [ -z "$BRIDGE" ]; then
	echo "sessionarchiver-bridge.php not found: is sessionarchiver installed?"
	exit 1
fi
if [ -z "${SA_ARCHIVE_COURSE_ID:-}" ] || [ -z "${SA_MOODLE:-}" ]; then
	echo "SA_ARCHIVE_COURSE_ID and SA_MOODLE are needed: run as post_restore"
	exit 1
fi

if [ "$(id -u)" = 0 ] && [ -n "$MOODLE_USER" ]; then
	exec setpriv --reuid="$MOODLE_USER" --regid="$MOODLE_USER" \
		--init-groups "$PHP" "$BRIDGE" --moodle="$SA_MOODLE" \
		hide-course --id="$SA_ARCHIVE_COURSE_ID"
fi
exec "$PHP" "$BRIDGE" --moodle="$SA_MOODLE" hide-course \
	--id="$SA_ARCHIVE_COURSE_ID"
