/*
 * Reading a Moodle backup (.mbz) in one sequential pass, for the indexer.
 *
 * Bytes flow fd (or memory) -> SHA-256 -> libarchive "outer" handle (gzip
 * filter, raw format) -> CRC-32 -> libarchive "inner" handle (tar or
 * streamable zip) -> expat, for the two members we care about. Nothing is
 * ever seeked or read twice, so the same code serves a pipe, a FUSE file or
 * a buffer. The outer/inner split exists because libarchive 3.6 never checks
 * the gzip trailer (its gzip filter leaves the length and CRC unverified)
 * and, in a tar, stops at the end-of-archive blocks before reaching it: a
 * bit flip inside a stored deflate block (random data, i.e. most of files/)
 * or in the trailer itself would pass unnoticed. So in MBZ_FULL we inflate
 * to the real end of the gzip stream and compare CRC-32 and length with the
 * trailer ourselves.
 *
 * Only gzip is enabled, not archive_read_support_filter_all(): several of
 * its filters (lrzip, grzip, lzop without liblzo) run an external program,
 * which a hostile file must not be able to trigger (STYLE.md: "Running
 * other programs").
 *
 * XML members are streamed into expat block by block; the member size
 * (MBZ_XML_CAP) and each text value (TEXT_CAP) are capped, so an archive
 * cannot make us allocate more than a few MiB whatever it declares.
 */
#include "mbz.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <expat.h>
#include <zlib.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strbuf.h"
#include "xalloc.h"

/*
 * Reads from the file. 128 KiB keeps syscalls few on a multi-GB backup
 * while MBZ_FAST, whose course.xml sits in the first few KiB, reads one.
 */
#define BLOCK_SIZE (128 * 1024)
/* Feeding expat: also what archive_read_data hands over per call. */
#define XML_CHUNK (64 * 1024)
/* Longest text value we keep (a course fullname is at most 254 chars). */
#define TEXT_CAP (1024 * 1024)
/* Deepest path we match is 50 bytes and 5 levels; deeper is not tracked. */
#define PATH_CAP 128
#define DEPTH_CAP 8
/*
 * Last bytes of the file kept for the gzip trailer check: the trailer sits
 * before any padding (libarchive's writer pads to 10240-byte blocks).
 */
#define TAIL_CAP (64 * 1024)
/* Moodle's backup writes a NULL column as this string. */
#define MOODLE_NULL "$@NULL@$"

enum xml_doc {
	DOC_NONE,   /* a member we skip */
	DOC_BACKUP, /* moodle_backup.xml */
	DOC_COURSE, /* course/course.xml */
};

enum field_kind {
	F_STR,   /* char * */
	F_I64,   /* int64_t */
	F_INT,   /* int */
	F_COUNT, /* int, +1 per element, no text */
};

struct field {
	enum xml_doc doc;
	const char *path;
	enum field_kind kind;
	size_t off; /* in struct mbz_info */
};

#define INFO_AT(f) offsetof(struct mbz_info, f)
#define INF "moodle_backup/information/"

static const struct field fields[] = {
	{ DOC_BACKUP, INF "name", F_STR, INFO_AT(name) },
	{ DOC_BACKUP, INF "moodle_version", F_I64, INFO_AT(moodle_version) },
	{ DOC_BACKUP, INF "moodle_release", F_STR, INFO_AT(moodle_release) },
	{ DOC_BACKUP, INF "backup_version", F_I64, INFO_AT(backup_version) },
	{ DOC_BACKUP, INF "backup_release", F_STR, INFO_AT(backup_release) },
	{ DOC_BACKUP, INF "backup_date", F_I64, INFO_AT(backup_date) },
	{ DOC_BACKUP, INF "original_wwwroot", F_STR,
	  INFO_AT(original_wwwroot) },
	{ DOC_BACKUP, INF "original_site_identifier_hash", F_STR,
	  INFO_AT(original_site_identifier_hash) },
	{ DOC_BACKUP, INF "original_course_id", F_I64,
	  INFO_AT(original_course_id) },
	{ DOC_BACKUP, INF "original_course_format", F_STR,
	  INFO_AT(original_course_format) },
	{ DOC_BACKUP, INF "original_course_fullname", F_STR,
	  INFO_AT(original_course_fullname) },
	{ DOC_BACKUP, INF "original_course_shortname", F_STR,
	  INFO_AT(original_course_shortname) },
	{ DOC_BACKUP, INF "original_course_startdate", F_I64,
	  INFO_AT(original_course_startdate) },
	{ DOC_BACKUP, INF "original_course_enddate", F_I64,
	  INFO_AT(original_course_enddate) },
	{ DOC_BACKUP, INF "original_course_contextid", F_I64,
	  INFO_AT(original_course_contextid) },
	{ DOC_BACKUP, INF "details/detail/type", F_STR, INFO_AT(backup_type) },
	{ DOC_BACKUP, INF "contents/sections/section", F_COUNT,
	  INFO_AT(section_count) },
	{ DOC_BACKUP, INF "contents/activities/activity", F_COUNT,
	  INFO_AT(activity_count) },
	{ DOC_COURSE, "course/shortname", F_STR, INFO_AT(course_shortname) },
	{ DOC_COURSE, "course/fullname", F_STR, INFO_AT(course_fullname) },
	{ DOC_COURSE, "course/idnumber", F_STR, INFO_AT(course_idnumber) },
	{ DOC_COURSE, "course/startdate", F_I64, INFO_AT(course_startdate) },
	{ DOC_COURSE, "course/enddate", F_I64, INFO_AT(course_enddate) },
	{ DOC_COURSE, "course/visible", F_INT, INFO_AT(course_visible) },
};

/* Where the bytes come from; every byte handed out is hashed first. */
struct source {
	int fd; /* -1: memory */
	const unsigned char *mem;
	size_t mem_len;
	size_t mem_pos;
	unsigned char *buf; /* fd only */
	EVP_MD_CTX *md;     /* NULL in MBZ_FAST */
	uint64_t total;
	unsigned char head[2]; /* first bytes, for the gzip magic */
	unsigned char *tail; /* MBZ_FULL: ring of the last TAIL_CAP bytes */
	int read_errno;
	bool md_failed;
};

struct reader {
	struct source src;
	struct archive *outer; /* gzip (or nothing), raw format */
	struct archive *inner; /* tar or zip */
	bool gzip;
	uint32_t crc;     /* running CRC-32 of the inflated bytes */
	uint64_t inflated;
	uint64_t gzip_end; /* file offset after the gzip trailer */
	char cause[256]; /* the outer handle's error, if it failed */
};

struct xml_ctx {
	XML_Parser parser;
	enum xml_doc doc;
	const char *member;
	struct mbz_info *info;
	char path[PATH_CAP];
	size_t path_len;
	size_t saved[DEPTH_CAP];
	unsigned depth;      /* tracked levels */
	unsigned untracked;  /* levels below them, too deep or too long */
	const struct field *field;
	unsigned field_depth;
	struct strbuf text;
	bool failed;
	char *err;
	size_t errlen;
};

static void *must(void *p)
{
	if (!p) {
		fputs("sessionarchiver: out of memory\n", stderr);
		abort();
	}
	return p;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void mbz_info_init(struct mbz_info *info)
{
	memset(info, 0, sizeof(*info));
	info->format = MBZ_FORMAT_UNKNOWN;
	info->moodle_version = -1;
	info->backup_version = -1;
	info->backup_date = -1;
	info->original_course_id = -1;
	info->original_course_startdate = -1;
	info->original_course_enddate = -1;
	info->original_course_contextid = -1;
	info->section_count = -1;
	info->activity_count = -1;
	info->course_id = -1;
	info->course_contextid = -1;
	info->course_startdate = -1;
	info->course_enddate = -1;
	info->course_visible = -1;
}

void mbz_info_release(struct mbz_info *info)
{
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (fields[i].kind == F_STR)
			free(*(char **)((char *)info + fields[i].off));
	mbz_info_init(info);
}

/* The one number parser: the whole string, in range, no sign games. */
static int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!((*s >= '0' && *s <= '9') || *s == '-'))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* --- bytes in: hashing source ------------------------------------------- */

static void tail_add(struct source *src, const unsigned char *p, size_t n)
{
	size_t skip = n > TAIL_CAP ? n - TAIL_CAP : 0;
	size_t at = (size_t)((src->total + skip) % TAIL_CAP);
	size_t first;

	p += skip;
	n -= skip;
	first = n < TAIL_CAP - at ? n : TAIL_CAP - at;
	memcpy(src->tail + at, p, first);
	memcpy(src->tail, p + first, n - first);
}

static ssize_t src_next(struct source *src, const void **out)
{
	ssize_t n;
	size_t i;

	if (src->fd < 0) {
		size_t left = src->mem_len - src->mem_pos;

		if (!left)
			return 0;
		n = (ssize_t)(left < BLOCK_SIZE ? left : BLOCK_SIZE);
		*out = src->mem + src->mem_pos;
		src->mem_pos += (size_t)n;
	} else {
		do
			n = read(src->fd, src->buf, BLOCK_SIZE);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			src->read_errno = errno;
			return -1;
		}
		*out = src->buf;
	}
	if (!n)
		return 0;
	if (src->md && !EVP_DigestUpdate(src->md, *out, (size_t)n)) {
		src->md_failed = true;
		return -1;
	}
	for (i = 0; src->total + i < 2 && i < (size_t)n; i++)
		src->head[src->total + i] = ((const unsigned char *)*out)[i];
	if (src->tail)
		tail_add(src, *out, (size_t)n);
	src->total += (uint64_t)n;
	return n;
}

static la_ssize_t raw_read(struct archive *a, void *data, const void **buf)
{
	struct reader *r = data;
	ssize_t n = src_next(&r->src, buf);

	if (n < 0)
		archive_set_error(a,
				  r->src.read_errno ? r->src.read_errno : EIO,
				  "read error");
	return n;
}

/* --- inflated stream: CRC-32 for the gzip trailer ----------------------- */

static void crc_init(struct reader *r)
{
	r->crc = (uint32_t)crc32_z(0L, Z_NULL, 0);
}

/* zlib's CRC-32 is table-sliced and SIMD-folded: 8x a bytewise loop */
static void crc_add(struct reader *r, const unsigned char *p, size_t n)
{
	r->crc = (uint32_t)crc32_z(r->crc, p, n);
}

static la_ssize_t inflated_read(struct archive *a, void *data,
				const void **buf)
{
	struct reader *r = data;
	size_t size;
	la_int64_t offset;
	int rc;

	rc = archive_read_data_block(r->outer, buf, &size, &offset);
	if (rc == ARCHIVE_EOF) {
		/* Bytes the gzip filter consumed, not those read ahead. */
		r->gzip_end = (uint64_t)archive_filter_bytes(r->outer, -1);
		return 0;
	}
	if (rc != ARCHIVE_OK) {
		const char *why = archive_error_string(r->outer);

		snprintf(r->cause, sizeof(r->cause), "%s",
			 why ? why : "unexpected end of data");
		archive_set_error(a, EIO, "%s", r->cause);
		return -1;
	}
	if (r->gzip)
		crc_add(r, *buf, size);
	r->inflated += size;
	return (la_ssize_t)size;
}

/*
 * One message for a libarchive failure, from the most precise cause: our
 * own read, then the decompressor, then the archive format. A first header
 * that cannot be read with no read or inflate error means the bytes are not
 * an archive at all.
 */
static void archive_failed(struct reader *r, struct archive *a, bool first,
			   char *err, size_t errlen)
{
	const char *why = archive_error_string(a);

	if (!why)
		why = "unexpected end of data";
	if (r->src.read_errno)
		set_err(err, errlen, "read error: %s",
			strerror(r->src.read_errno));
	else if (r->src.md_failed)
		set_err(err, errlen, "cannot compute sha256");
	else if (r->cause[0])
		set_err(err, errlen, "truncated or corrupted archive: %s",
			r->cause);
	else if (first && !r->src.total)
		set_err(err, errlen, "not a Moodle backup: empty file");
	else if (first)
		set_err(err, errlen, "not a Moodle backup: %s", why);
	else
		set_err(err, errlen, "truncated or corrupted archive: %s", why);
}

/* --- XML ---------------------------------------------------------------- */

static void xml_fail(struct xml_ctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void xml_fail(struct xml_ctx *x, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (x->failed)
		return;
	x->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_err(x->err, x->errlen, "bad %s: %s", x->member, msg);
	XML_StopParser(x->parser, XML_FALSE);
}

static const char *field_name(const struct field *f)
{
	return strrchr(f->path, '/') + 1;
}

static void store_number(struct xml_ctx *x, const char *name,
			 enum field_kind kind, void *slot, const char *s)
{
	int64_t v = -1;
	int64_t min = kind == F_INT ? INT_MIN : INT64_MIN;
	int64_t max = kind == F_INT ? INT_MAX : INT64_MAX;

	if (strcmp(s, MOODLE_NULL) && parse_i64(s, min, max, &v) < 0) {
		xml_fail(x, "%s: invalid number '%.40s'", name, s);
		return;
	}
	if (kind == F_INT)
		*(int *)slot = (int)v;
	else
		*(int64_t *)slot = v;
}

static void store_field(struct xml_ctx *x, const struct field *f)
{
	void *slot = (char *)x->info + f->off;
	char **str = slot;

	if (f->kind != F_STR) {
		store_number(x, field_name(f), f->kind, slot, x->text.buf);
		return;
	}
	/* A repeated element: the last one wins, the earlier is not leaked. */
	free(*str);
	*str = strcmp(x->text.buf, MOODLE_NULL) ? xstrdup(x->text.buf) : NULL;
}

static void course_attributes(struct xml_ctx *x, const XML_Char **atts)
{
	for (; atts[0] && atts[1]; atts += 2) {
		if (!strcmp(atts[0], "id"))
			store_number(x, "id", F_I64, &x->info->course_id,
				     atts[1]);
		else if (!strcmp(atts[0], "contextid"))
			store_number(x, "contextid", F_I64,
				     &x->info->course_contextid, atts[1]);
	}
}

static void XMLCALL on_start(void *data, const XML_Char *name,
			     const XML_Char **atts)
{
	struct xml_ctx *x = data;
	const char *root = x->doc == DOC_BACKUP ? "moodle_backup" : "course";
	size_t len = strlen(name);
	size_t i;

	/* XML_StopParser lets the current token finish: <a/> still ends. */
	if (x->failed)
		return;
	if (!x->depth && !x->untracked && strcmp(name, root)) {
		xml_fail(x, "root element is '%.40s', not '%s'", name, root);
		return;
	}
	if (x->untracked || x->depth == DEPTH_CAP ||
	    x->path_len + 1 + len >= PATH_CAP) {
		x->untracked++;
		return;
	}
	x->saved[x->depth++] = x->path_len;
	if (x->path_len)
		x->path[x->path_len++] = '/';
	memcpy(x->path + x->path_len, name, len + 1);
	x->path_len += len;

	if (x->doc == DOC_COURSE && x->depth == 1)
		course_attributes(x, atts);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const struct field *f = &fields[i];

		if (f->doc != x->doc || strcmp(f->path, x->path))
			continue;
		if (f->kind == F_COUNT) {
			/* MBZ_XML_CAP bounds the count far below INT_MAX. */
			(*(int *)((char *)x->info + f->off))++;
		} else {
			x->field = f;
			x->field_depth = x->depth;
			sb_reset(&x->text);
		}
		break;
	}
}

static void XMLCALL on_text(void *data, const XML_Char *s, int len)
{
	struct xml_ctx *x = data;

	if (x->failed || !x->field || x->untracked ||
	    x->depth != x->field_depth)
		return;
	if (sb_add(&x->text, s, (size_t)len) < 0)
		xml_fail(x, "<%s> longer than %d bytes", field_name(x->field),
			 TEXT_CAP);
}

static void XMLCALL on_end(void *data, const XML_Char *name)
{
	struct xml_ctx *x = data;

	(void)name;
	if (x->failed)
		return;
	if (x->untracked) {
		x->untracked--;
		return;
	}
	if (x->field && x->depth == x->field_depth) {
		store_field(x, x->field);
		x->field = NULL;
	}
	x->path_len = x->saved[--x->depth];
	x->path[x->path_len] = '\0';
}

/*
 * Streams the current member of a into expat. Returns 0, or -1 with err
 * set; *archive_error tells the caller the failure came from libarchive
 * (to be worded by archive_failed) rather than from the XML.
 */
static int parse_member(struct archive *a, struct archive_entry *e,
			enum xml_doc doc, struct mbz_info *info,
			bool *archive_error, char *err, size_t errlen)
{
	static const XML_Memory_Handling_Suite mm = { xmalloc, xrealloc,
						      free };
	struct xml_ctx x = { .doc = doc, .info = info, .err = err,
			     .errlen = errlen };
	uint64_t bytes = 0;
	la_ssize_t n;
	void *buf;
	int rc = -1;

	x.member = doc == DOC_BACKUP ? "moodle_backup.xml" :
				       "course/course.xml";
	*archive_error = false;
	if (archive_entry_size_is_set(e) &&
	    archive_entry_size(e) > (la_int64_t)MBZ_XML_CAP) {
		set_err(err, errlen, "bad %s: larger than %u bytes", x.member,
			MBZ_XML_CAP);
		return -1;
	}
	x.parser = must(XML_ParserCreate_MM(NULL, &mm, NULL));
	sb_init(&x.text, TEXT_CAP);
	XML_SetUserData(x.parser, &x);
	XML_SetElementHandler(x.parser, on_start, on_end);
	XML_SetCharacterDataHandler(x.parser, on_text);
	if (doc == DOC_BACKUP)
		info->section_count = info->activity_count = 0;

	do {
		buf = must(XML_GetBuffer(x.parser, XML_CHUNK));
		n = archive_read_data(a, buf, XML_CHUNK);
		if (n < 0) {
			*archive_error = true;
			goto out_free_parser;
		}
		bytes += (uint64_t)n;
		if (bytes > MBZ_XML_CAP) {
			set_err(err, errlen, "bad %s: larger than %u bytes",
				x.member, MBZ_XML_CAP);
			goto out_free_parser;
		}
		if (XML_ParseBuffer(x.parser, (int)n, n == 0) !=
		    XML_STATUS_OK) {
			if (!x.failed)
				set_err(err, errlen, "bad %s: %s at line %lu",
					x.member,
					XML_ErrorString(
						XML_GetErrorCode(x.parser)),
					(unsigned long)XML_GetCurrentLineNumber(
						x.parser));
			goto out_free_parser;
		}
	} while (n > 0);
	if (doc == DOC_BACKUP)
		info->have_backup_xml = true;
	else
		info->have_course_xml = true;
	rc = 0;

out_free_parser:
	sb_release(&x.text);
	XML_ParserFree(x.parser);
	return rc;
}

/* --- the pass ----------------------------------------------------------- */

/* Member name without a leading "./", which some zip and tar tools add. */
static const char *member_name(struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);

	if (name && !strncmp(name, "./", 2))
		name += 2;
	return name;
}

static int read_members(struct reader *r, enum mbz_mode mode,
			struct mbz_info *info, char *err, size_t errlen)
{
	struct archive_entry *e;
	bool first = true;
	bool archive_error;
	enum xml_doc doc;
	const char *name;
	int rc;

	for (;;) {
		rc = archive_read_next_header(r->inner, &e);
		if (rc == ARCHIVE_EOF)
			break;
		if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
			archive_failed(r, r->inner, first, err, errlen);
			return -1;
		}
		if (first) {
			int fmt = archive_format(r->inner) &
				  ARCHIVE_FORMAT_BASE_MASK;

			info->format = fmt == ARCHIVE_FORMAT_ZIP ?
					       MBZ_FORMAT_ZIP :
					       MBZ_FORMAT_TGZ;
			first = false;
		}
		name = member_name(e);
		if (!name || archive_entry_filetype(e) != AE_IFREG)
			doc = DOC_NONE;
		else if (!strcmp(name, "moodle_backup.xml"))
			doc = DOC_BACKUP;
		else if (!strcmp(name, "course/course.xml"))
			doc = DOC_COURSE;
		else
			doc = DOC_NONE;

		if (doc == DOC_NONE) {
			if (archive_read_data_skip(r->inner) < ARCHIVE_WARN) {
				archive_failed(r, r->inner, false, err, errlen);
				return -1;
			}
			continue;
		}
		if ((doc == DOC_BACKUP && info->have_backup_xml) ||
		    (doc == DOC_COURSE && info->have_course_xml)) {
			set_err(err, errlen, "duplicate '%s' in archive", name);
			return -1;
		}
		if (parse_member(r->inner, e, doc, info, &archive_error, err,
				 errlen) < 0) {
			if (archive_error)
				archive_failed(r, r->inner, false, err, errlen);
			return -1;
		}
		if (mode == MBZ_FAST && info->have_course_xml)
			return 0;
	}
	if (first) {
		/* An archive with no member at all: an empty zip or tar. */
		set_err(err, errlen, "not a Moodle backup: empty archive");
		return -1;
	}
	return 0;
}

static uint32_t tail_u32(const struct source *src, uint64_t at)
{
	uint32_t v = 0;
	int i;

	for (i = 3; i >= 0; i--)
		v = v << 8 | src->tail[(at + (unsigned)i) % TAIL_CAP];
	return v;
}

/*
 * The gzip trailer (CRC-32 and length of the inflated data) against what
 * went through. Several concatenated gzip streams fail here too: Moodle
 * never writes them, and libarchive would only let us see the last trailer.
 */
static int check_trailer(struct reader *r, char *err, size_t errlen)
{
	const struct source *src = &r->src;
	uint64_t end = r->gzip_end;

	if (end < 8 || end > src->total || src->total - end > TAIL_CAP - 8) {
		set_err(err, errlen,
			"truncated or corrupted archive: more than %d bytes "
			"after the gzip stream",
			TAIL_CAP - 8);
		return -1;
	}
	if (tail_u32(src, end - 8) != r->crc ||
	    tail_u32(src, end - 4) != (uint32_t)r->inflated) {
		set_err(err, errlen,
			"truncated or corrupted archive: gzip CRC or length "
			"mismatch");
		return -1;
	}
	return 0;
}

/*
 * MBZ_FULL after the last member: the rest of the inflated stream (tar
 * padding, then the gzip trailer is consumed), the rest of the file (for
 * the hash), then the trailer check libarchive does not do.
 */
static int finish_full(struct reader *r, struct mbz_info *info, char *err,
		       size_t errlen)
{
	const void *p;
	la_ssize_t n;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen, i;

	while ((n = inflated_read(r->inner, r, &p)) > 0)
		;
	if (n < 0) {
		archive_failed(r, r->inner, false, err, errlen);
		return -1;
	}
	while ((n = src_next(&r->src, &p)) > 0)
		;
	if (n < 0) {
		archive_failed(r, r->inner, false, err, errlen);
		return -1;
	}
	if (r->gzip && check_trailer(r, err, errlen) < 0)
		return -1;
	if (!info->have_backup_xml) {
		set_err(err, errlen, "no moodle_backup.xml in archive");
		return -1;
	}
	if (!EVP_DigestFinal_ex(r->src.md, digest, &dlen) || dlen != 32) {
		set_err(err, errlen, "cannot compute sha256");
		return -1;
	}
	for (i = 0; i < dlen; i++)
		snprintf(info->sha256 + 2 * i, 3, "%02x", digest[i]);
	info->file_size = r->src.total;
	return 0;
}

static int read_source(struct reader *r, enum mbz_mode mode,
		       struct mbz_info *info, char *err, size_t errlen)
{
	struct archive_entry *e;
	int rc = -1;

	if (errlen)
		err[0] = '\0';
	crc_init(r);
	if (mode == MBZ_FULL) {
		r->src.tail = xmalloc(TAIL_CAP);
		r->src.md = must(EVP_MD_CTX_new());
		if (!EVP_DigestInit_ex(r->src.md, EVP_sha256(), NULL)) {
			set_err(err, errlen, "cannot compute sha256");
			goto out_free_md;
		}
	}

	r->outer = must(archive_read_new());
	archive_read_support_filter_gzip(r->outer);
	archive_read_support_format_raw(r->outer);
	if (archive_read_open(r->outer, r, NULL, raw_read, NULL) !=
		    ARCHIVE_OK ||
	    archive_read_next_header(r->outer, &e) != ARCHIVE_OK) {
		/*
		 * libarchive drops the gzip filter when it cannot fill its
		 * first output block, so the magic decides: a damaged gzip
		 * file, not a stranger.
		 */
		archive_failed(r, r->outer,
			       !(r->src.total >= 2 && r->src.head[0] == 0x1f &&
				 r->src.head[1] == 0x8b),
			       err, errlen);
		goto out_free_outer;
	}
	r->gzip = archive_filter_code(r->outer, 0) == ARCHIVE_FILTER_GZIP;

	r->inner = must(archive_read_new());
	archive_read_support_format_tar(r->inner);
	archive_read_support_format_zip_streamable(r->inner);
	if (archive_read_open(r->inner, r, NULL, inflated_read, NULL) !=
	    ARCHIVE_OK) {
		archive_failed(r, r->inner, true, err, errlen);
		goto out_free_inner;
	}
	if (read_members(r, mode, info, err, errlen) < 0)
		goto out_free_inner;
	if (mode == MBZ_FULL) {
		if (finish_full(r, info, err, errlen) < 0)
			goto out_free_inner;
	} else if (!info->have_course_xml) {
		set_err(err, errlen, "no course/course.xml in archive");
		goto out_free_inner;
	}
	rc = 0;

out_free_inner:
	archive_read_free(r->inner);
out_free_outer:
	archive_read_free(r->outer);
out_free_md:
	EVP_MD_CTX_free(r->src.md);
	free(r->src.tail);
	if (rc < 0)
		mbz_info_release(info);
	return rc;
}

int mbz_read_mem(const void *data, size_t len, enum mbz_mode mode,
		 struct mbz_info *info, char *err, size_t errlen)
{
	struct reader *r = xcalloc(1, sizeof(*r));
	int rc;

	r->src.fd = -1;
	r->src.mem = data;
	r->src.mem_len = data ? len : 0;
	rc = read_source(r, mode, info, err, errlen);
	if (!rc && mode == MBZ_FAST)
		info->file_size = len;
	free(r);
	return rc;
}

int mbz_read_fd(int fd, enum mbz_mode mode, struct mbz_info *info, char *err,
		size_t errlen)
{
	struct reader *r = xcalloc(1, sizeof(*r));
	struct stat st;
	off_t start = lseek(fd, 0, SEEK_CUR);
	int rc;

	r->src.fd = fd;
	r->src.buf = xmalloc(BLOCK_SIZE);
	rc = read_source(r, mode, info, err, errlen);
	/* MBZ_FAST stops early: the size comes from the inode, if any. */
	if (!rc && mode == MBZ_FAST)
		info->file_size = !fstat(fd, &st) && S_ISREG(st.st_mode) &&
					  start >= 0 && st.st_size >= start ?
					  (uint64_t)(st.st_size - start) :
					  0;
	free(r->src.buf);
	free(r);
	return rc;
}

int mbz_read_path(const char *path, enum mbz_mode mode, struct mbz_info *info,
		  char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		set_err(err, errlen, "cannot open '%s': %s", path,
			strerror(errno));
		return -1;
	}
	rc = mbz_read_fd(fd, mode, info, err, errlen);
	close(fd);
	return rc;
}
