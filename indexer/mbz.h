/*
 * mbz: reading a Moodle course backup (.mbz) in one sequential pass.
 *
 * A .mbz is a gzip-compressed ustar archive (zip on sites with
 * $CFG->usezipbackups); the format is detected from the bytes, never from
 * the name. MBZ_FULL reads the whole file once: SHA-256 of the file's bytes,
 * course/course.xml (early in the archive) and moodle_backup.xml (late: after
 * the file contents). MBZ_FAST stops as soon as course/course.xml is parsed,
 * so a course is identified without inflating its files (no SHA-256 then).
 *
 * Every XML member is parsed with expat while it streams and its size is
 * capped (MBZ_XML_CAP), so a hostile archive cannot make us allocate.
 * Functions here share nothing: threads may read different files at once.
 */
#ifndef SA_MBZ_H
#define SA_MBZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest XML member we agree to parse (moodle_backup.xml, course.xml). */
#define MBZ_XML_CAP (64u * 1024 * 1024)

enum mbz_mode {
	MBZ_FULL, /* hash + course.xml + moodle_backup.xml */
	MBZ_FAST, /* course.xml only, stop early, no hash */
};

enum mbz_format {
	MBZ_FORMAT_UNKNOWN = 0,
	MBZ_FORMAT_TGZ,
	MBZ_FORMAT_ZIP,
};

/*
 * What a backup says about itself. Strings are owned by the struct and
 * freed by mbz_info_release(); a field the archive lacks stays NULL / -1.
 */
struct mbz_info {
	enum mbz_format format;
	uint64_t file_size;     /* bytes of the .mbz file */
	char sha256[65];        /* hex, "" in MBZ_FAST mode */

	/* moodle_backup.xml, moodle_backup/information */
	bool have_backup_xml;
	char *name;             /* information/name: Moodle's file name */
	int64_t moodle_version; /* e.g. 2024100706 */
	char *moodle_release;   /* e.g. "4.5.6 (Build: 20250811)" */
	int64_t backup_version;
	char *backup_release;
	int64_t backup_date;    /* unix time */
	char *original_wwwroot;
	char *original_site_identifier_hash; /* md5 of siteidentifier */
	int64_t original_course_id;
	char *original_course_format;
	char *original_course_shortname;
	char *original_course_fullname;
	int64_t original_course_startdate;
	int64_t original_course_enddate;
	int64_t original_course_contextid;
	char *backup_type;      /* details/detail/type: "course" */
	int section_count;      /* contents/sections/section */
	int activity_count;     /* contents/activities/activity */

	/* course/course.xml */
	bool have_course_xml;
	int64_t course_id;      /* <course id="N"> */
	int64_t course_contextid;
	char *course_shortname;
	char *course_fullname;
	char *course_idnumber;
	int64_t course_startdate;
	int64_t course_enddate;
	int course_visible;
};

void mbz_info_init(struct mbz_info *info);
void mbz_info_release(struct mbz_info *info);

/*
 * Reads the backup at path. Returns 0 and fills info (which the caller had
 * initialised) or returns -1 with a one-line reason in err (e.g. "not a
 * Moodle backup: unrecognized archive format", "truncated archive",
 * "no moodle_backup.xml in archive"). Nothing is logged: the reason is the
 * caller's to record against the file.
 */
int mbz_read_path(const char *path, enum mbz_mode mode, struct mbz_info *info,
		  char *err, size_t errlen);
/* The same on an open fd, read from its current offset to the end. */
int mbz_read_fd(int fd, enum mbz_mode mode, struct mbz_info *info, char *err,
		size_t errlen);
/* The same on bytes in memory (tests, fuzzing). */
int mbz_read_mem(const void *data, size_t len, enum mbz_mode mode,
		 struct mbz_info *info, char *err, size_t errlen);

#endif
