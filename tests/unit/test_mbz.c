/*
 * Unit tests for indexer/mbz: the four real Moodle 4.5.6 backups under
 * $SA_SHARED/fixtures/moodle-real (skipped, never passed, when absent) and
 * hostile or broken archives built in memory with libarchive's writer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mbz.h"
#include "strbuf.h"
#include "xalloc.h"

#define ERRLEN 512

/* --- building archives in memory ---------------------------------------- */

struct member {
	const char *name;
	const char *data; /* NULL: a directory */
	size_t len;       /* 0: strlen(data) */
};

static la_ssize_t collect(struct archive *a, void *data, const void *buf,
			  size_t n)
{
	(void)a;
	assert_int_equal(sb_add(data, buf, n), 0);
	return (la_ssize_t)n;
}

static struct archive *writer(bool zip, struct strbuf *out)
{
	struct archive *a = archive_write_new();

	assert_non_null(a);
	if (zip) {
		assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	} else {
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
		assert_int_equal(archive_write_set_format_ustar(a),
				 ARCHIVE_OK);
	}
	/* Moodle does not pad the gzip output to 10240-byte blocks. */
	assert_int_equal(archive_write_set_bytes_in_last_block(a, 1),
			 ARCHIVE_OK);
	sb_init(out, 0);
	assert_int_equal(archive_write_open(a, out, NULL, collect, NULL),
			 ARCHIVE_OK);
	return a;
}

static void add_member(struct archive *a, const char *name, const char *data,
		       size_t len)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_mtime(e, 1795676950, 0);
	if (data) {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)len);
	} else {
		archive_entry_set_filetype(e, AE_IFDIR);
		archive_entry_set_perm(e, 0755);
	}
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (data && len)
		assert_int_equal(archive_write_data(a, data, len),
				 (la_ssize_t)len);
	archive_entry_free(e);
}

static void finish(struct archive *a)
{
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void build(bool zip, const struct member *m, size_t n,
		  struct strbuf *out)
{
	struct archive *a = writer(zip, out);
	size_t i;

	for (i = 0; i < n; i++)
		add_member(a, m[i].name, m[i].data,
			   m[i].data ? (m[i].len ? m[i].len :
						   strlen(m[i].data)) :
				       0);
	finish(a);
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n, i;

	assert_true(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL));
	for (i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* --- a backup laid out the way Moodle does it --------------------------- */

static const char course_xml[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<course id=\"42\" contextid=\"4242\">\n"
	"  <shortname>A&amp;B &lt;1&gt;</shortname>\n"
	"  <fullname>Cours \"A\" &amp; B \xc3\xa9t\xc3\xa9</fullname>\n"
	"  <idnumber>$@NULL@$</idnumber>\n"
	"  <startdate>1700000000</startdate>\n"
	"  <enddate>0</enddate>\n"
	"  <visible>0</visible>\n"
	"  <category id=\"3\"><name>not the course</name></category>\n"
	"</course>\n";

#define BACKUP_HEAD                                                          \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                        \
	"<moodle_backup>\n"                                                   \
	"  <information>\n"                                                   \
	"    <name>backup-moodle2-course-42-a_b-20261126-0709.mbz</name>\n" \
	"    <moodle_version>2024100706</moodle_version>\n"                  \
	"    <moodle_release>4.5.6 (Build: 20250811)</moodle_release>\n"     \
	"    <backup_version>2024100700</backup_version>\n"                  \
	"    <backup_release>4.5</backup_release>\n"                         \
	"    <backup_date>1795676950</backup_date>\n"                        \
	"    <original_wwwroot>http://localhost/src</original_wwwroot>\n"    \
	"    <original_site_identifier_hash>8c7c090f9a24e0f17e92e0bb2a8106a6" \
	"</original_site_identifier_hash>\n"

#define BACKUP_TAIL                                                          \
	"    <original_course_format>topics</original_course_format>\n"      \
	"    <original_course_fullname>Cours \"A\" &amp; B \xc3\xa9t\xc3\xa9" \
	"</original_course_fullname>\n"                                       \
	"    <original_course_shortname>A&amp;B &lt;1&gt;"                   \
	"</original_course_shortname>\n"                                      \
	"    <original_course_startdate>1700000000"                          \
	"</original_course_startdate>\n"                                      \
	"    <original_course_enddate>0</original_course_enddate>\n"         \
	"    <original_course_contextid>4242</original_course_contextid>\n"  \
	"    <details><detail backup_id=\"x\"><type>course</type>"           \
	"<format>moodle2</format></detail></details>\n"                      \
	"    <contents>\n"                                                    \
	"      <activities><activity><title>a1</title></activity>\n"         \
	"        <activity><title>a2</title></activity>\n"                   \
	"        <activity><title>a3</title></activity></activities>\n"      \
	"      <sections><section><title>0</title></section>\n"              \
	"        <section><title>1</title></section></sections>\n"           \
	"      <course><courseid>42</courseid></course>\n"                   \
	"    </contents>\n"                                                   \
	"    <settings><setting><level>section</level>\n"                    \
	"      <section>section_1</section><activity>x</activity>"           \
	"</setting></settings>\n"                                             \
	"  </information>\n"                                                  \
	"</moodle_backup>\n"

static const char backup_xml[] =
	BACKUP_HEAD "    <original_course_id>42</original_course_id>\n"
		    BACKUP_TAIL;

static const char archive_index[] =
	"Moodle archive file index. Count: 7\n"
	"activities/\td\t0\t1356998400\n";

/* Moodle's order: index, activities, course/, files/, moodle_backup.xml. */
static void build_moodle(bool zip, const char *backup, const char *course,
			 struct strbuf *out)
{
	const struct member m[] = {
		{ ".ARCHIVE_INDEX", archive_index, 0 },
		{ "activities/", NULL, 0 },
		{ "activities/page_1/page.xml", "<activity/>\n", 0 },
		{ "badges.xml", "<badges/>\n", 0 },
		{ "course/", NULL, 0 },
		{ "course/course.xml", course, 0 },
		{ "files/", NULL, 0 },
		{ "files/da/da39a3ee5e6b4b0d3255bfef95601890afd80709", "blob",
		  0 },
		{ "files.xml", "<files/>\n", 0 },
		{ "moodle_backup.xml", backup, 0 },
		{ "moodle_backup.log", "", 0 },
	};

	build(zip, m, sizeof(m) / sizeof(m[0]), out);
}

static void check_layout_fields(const struct mbz_info *in)
{
	assert_true(in->have_backup_xml);
	assert_string_equal(in->name,
			    "backup-moodle2-course-42-a_b-20261126-0709.mbz");
	assert_int_equal(in->moodle_version, 2024100706);
	assert_string_equal(in->moodle_release, "4.5.6 (Build: 20250811)");
	assert_int_equal(in->backup_version, 2024100700);
	assert_string_equal(in->backup_release, "4.5");
	assert_int_equal(in->backup_date, 1795676950);
	assert_string_equal(in->original_wwwroot, "http://localhost/src");
	assert_string_equal(in->original_site_identifier_hash,
			    "8c7c090f9a24e0f17e92e0bb2a8106a6");
	assert_int_equal(in->original_course_id, 42);
	assert_string_equal(in->original_course_format, "topics");
	assert_string_equal(in->original_course_fullname,
			    "Cours \"A\" & B \xc3\xa9t\xc3\xa9");
	assert_string_equal(in->original_course_shortname, "A&B <1>");
	assert_int_equal(in->original_course_startdate, 1700000000);
	assert_int_equal(in->original_course_enddate, 0);
	assert_int_equal(in->original_course_contextid, 4242);
	assert_string_equal(in->backup_type, "course");
	/* settings/setting/section and .../activity must not count */
	assert_int_equal(in->section_count, 2);
	assert_int_equal(in->activity_count, 3);
}

static void check_course_fields(const struct mbz_info *in)
{
	assert_true(in->have_course_xml);
	assert_int_equal(in->course_id, 42);
	assert_int_equal(in->course_contextid, 4242);
	assert_string_equal(in->course_shortname, "A&B <1>");
	assert_string_equal(in->course_fullname,
			    "Cours \"A\" & B \xc3\xa9t\xc3\xa9");
	assert_null(in->course_idnumber); /* $@NULL@$ */
	assert_int_equal(in->course_startdate, 1700000000);
	assert_int_equal(in->course_enddate, 0);
	assert_int_equal(in->course_visible, 0);
}

/* Runs a read expected to fail and checks the message starts with want. */
static void expect_error(const void *data, size_t len, enum mbz_mode mode,
			 const char *want)
{
	struct mbz_info in;
	char err[ERRLEN];

	mbz_info_init(&in);
	if (mbz_read_mem(data, len, mode, &in, err, sizeof(err)) == 0)
		fail_msg("read of %zu bytes succeeded, wanted '%s'", len, want);
	if (strncmp(err, want, strlen(want)))
		fail_msg("got '%s', wanted '%s...'", err, want);
	/* A failed read leaves nothing behind. */
	assert_null(in.name);
	assert_null(in.course_shortname);
	assert_false(in.have_backup_xml);
	mbz_info_release(&in);
}

static void test_moodle_layout_full(void **state)
{
	struct strbuf ar;
	struct mbz_info in;
	char err[ERRLEN], hex[65];

	(void)state;
	build_moodle(false, backup_xml, course_xml, &ar);
	mbz_info_init(&in);
	assert_int_equal(mbz_read_mem(ar.buf, ar.len, MBZ_FULL, &in, err,
				      sizeof(err)),
			 0);
	sha256_hex(ar.buf, ar.len, hex);
	assert_string_equal(in.sha256, hex);
	assert_int_equal(in.file_size, ar.len);
	assert_int_equal(in.format, MBZ_FORMAT_TGZ);
	check_layout_fields(&in);
	check_course_fields(&in);
	mbz_info_release(&in);
	mbz_info_release(&in); /* released twice is harmless */
	sb_release(&ar);
}

static void test_moodle_layout_fast(void **state)
{
	struct strbuf ar;
	struct mbz_info in;
	char err[ERRLEN];

	(void)state;
	build_moodle(false, backup_xml, course_xml, &ar);
	mbz_info_init(&in);
	assert_int_equal(mbz_read_mem(ar.buf, ar.len, MBZ_FAST, &in, err,
				      sizeof(err)),
			 0);
	assert_string_equal(in.sha256, "");
	assert_int_equal(in.file_size, ar.len);
	assert_false(in.have_backup_xml);
	assert_null(in.name);
	assert_int_equal(in.original_course_id, -1);
	check_course_fields(&in);
	mbz_info_release(&in);
	sb_release(&ar);
}

static void test_zip_format(void **state)
{
	struct strbuf ar;
	struct mbz_info in;
	char err[ERRLEN], hex[65];

	(void)state;
	build_moodle(true, backup_xml, course_xml, &ar);
	assert_memory_equal(ar.buf, "PK\3\4", 4);
	mbz_info_init(&in);
	if (mbz_read_mem(ar.buf, ar.len, MBZ_FULL, &in, err, sizeof(err)))
		fail_msg("zip: %s", err);
	assert_int_equal(in.format, MBZ_FORMAT_ZIP);
	sha256_hex(ar.buf, ar.len, hex);
	assert_string_equal(in.sha256, hex);
	check_layout_fields(&in);
	check_course_fields(&in);
	mbz_info_release(&in);
	assert_int_equal(mbz_read_mem(ar.buf, ar.len, MBZ_FAST, &in, err,
				      sizeof(err)),
			 0);
	check_course_fields(&in);
	mbz_info_release(&in);
	sb_release(&ar);
}

static void test_not_archives(void **state)
{
	static const char text[] = "Moodle archive file index. Count: 1\n"
				   "hello, this is not a backup\n";
	unsigned char noise[4096];
	size_t i;
	uint32_t x = 2463534242u;

	(void)state;
	for (i = 0; i < sizeof(noise); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		noise[i] = (unsigned char)x;
	}
	expect_error("", 0, MBZ_FULL, "not a Moodle backup: empty file");
	expect_error(NULL, 0, MBZ_FAST, "not a Moodle backup: empty file");
	expect_error(text, sizeof(text) - 1, MBZ_FULL,
		     "not a Moodle backup: ");
	expect_error(text, sizeof(text) - 1, MBZ_FAST,
		     "not a Moodle backup: ");
	expect_error(noise, sizeof(noise), MBZ_FULL, "not a Moodle backup: ");
	expect_error(noise, sizeof(noise), MBZ_FAST, "not a Moodle backup: ");
}

static void test_truncated(void **state)
{
	struct strbuf ar;
	size_t k, cut;

	(void)state;
	build_moodle(false, backup_xml, course_xml, &ar);
	for (k = 1; k <= 10; k++) {
		cut = k < 10 ? ar.len * k / 10 : ar.len - 1;
		expect_error(ar.buf, cut, MBZ_FULL,
			     "truncated or corrupted archive: ");
	}
	/* FAST cut before course.xml is complete fails the same way. */
	expect_error(ar.buf, ar.len / 10, MBZ_FAST,
		     "truncated or corrupted archive: ");
	sb_release(&ar);
}

/*
 * Padding after the gzip stream (libarchive's writer pads to 10240-byte
 * blocks by default) is hashed and accepted; 64 KiB of it is refused.
 */
static void test_trailing_data(void **state)
{
	struct strbuf ar;
	struct mbz_info in;
	char err[ERRLEN], hex[65];
	size_t stream;

	(void)state;
	build_moodle(false, backup_xml, course_xml, &ar);
	stream = ar.len;
	while (ar.len < 10240)
		assert_int_equal(sb_addch(&ar, '\0'), 0);
	mbz_info_init(&in);
	assert_int_equal(mbz_read_mem(ar.buf, ar.len, MBZ_FULL, &in, err,
				      sizeof(err)),
			 0);
	sha256_hex(ar.buf, ar.len, hex);
	assert_string_equal(in.sha256, hex);
	assert_int_equal(in.file_size, 10240);
	check_layout_fields(&in);
	mbz_info_release(&in);

	ar.len = stream;
	while (ar.len < stream + 64 * 1024)
		assert_int_equal(sb_addch(&ar, '\0'), 0);
	expect_error(ar.buf, ar.len, MBZ_FULL,
		     "truncated or corrupted archive: more than ");
	sb_release(&ar);
}

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/*
 * A bit flipped in the middle fails. Then every byte, with two different
 * bits: the read fails with one of our messages, or (gzip header fields
 * nobody checks, unused padding bits) yields exactly the same values.
 */
static void test_bit_flips(void **state)
{
	struct strbuf ar;
	struct mbz_info in;
	char err[ERRLEN];
	size_t i, accepted = 0;
	int bit;

	(void)state;
	build_moodle(false, backup_xml, course_xml, &ar);
	ar.buf[ar.len / 2] ^= 0x10;
	expect_error(ar.buf, ar.len, MBZ_FULL, "");
	ar.buf[ar.len / 2] ^= 0x10;

	for (i = 0; i < ar.len; i++) {
		for (bit = 0; bit < 8; bit += 7) {
			ar.buf[i] ^= (char)(1 << bit);
			mbz_info_init(&in);
			if (mbz_read_mem(ar.buf, ar.len, MBZ_FULL, &in, err,
					 sizeof(err)) == 0) {
				accepted++;
				check_layout_fields(&in);
				check_course_fields(&in);
			} else if (!starts_with(err, "truncated or corrupt") &&
				   !starts_with(err, "not a Moodle backup: ") &&
				   !starts_with(err, "bad ") &&
				   !starts_with(err, "no ")) {
				fail_msg("flip at %zu: '%s'", i, err);
			}
			mbz_info_release(&in);
			ar.buf[i] ^= (char)(1 << bit);
		}
	}
	print_message("%zu of %zu flips read back the same values\n", accepted,
		      2 * ar.len);
	/* Only the 10-byte gzip header's unchecked fields may pass. */
	assert_true(accepted < 24);
	sb_release(&ar);
}

static void test_no_backup_xml(void **state)
{
	const struct member only_course[] = {
		{ ".ARCHIVE_INDEX", archive_index, 0 },
		{ "course/course.xml", course_xml, 0 },
	};
	const struct member neither[] = {
		{ "README", "hello\n", 0 },
		{ "moodle_backup.xml/", NULL, 0 }, /* a directory */
		{ "course.xml", course_xml, 0 },   /* wrong place */
	};
	struct strbuf ar;
	struct mbz_info in;
	char err[ERRLEN];

	(void)state;
	build(false, only_course, 2, &ar);
	expect_error(ar.buf, ar.len, MBZ_FULL,
		     "no moodle_backup.xml in archive");
	mbz_info_init(&in);
	assert_int_equal(mbz_read_mem(ar.buf, ar.len, MBZ_FAST, &in, err,
				      sizeof(err)),
			 0);
	check_course_fields(&in);
	mbz_info_release(&in);
	sb_release(&ar);

	build(false, neither, 3, &ar);
	expect_error(ar.buf, ar.len, MBZ_FULL,
		     "no moodle_backup.xml in archive");
	expect_error(ar.buf, ar.len, MBZ_FAST,
		     "no course/course.xml in archive");
	sb_release(&ar);

	build(false, NULL, 0, &ar);
	expect_error(ar.buf, ar.len, MBZ_FULL, "not a Moodle backup: ");
	sb_release(&ar);
}

static void test_bad_xml(void **state)
{
	static const char broken[] = "<?xml version=\"1.0\"?>\n"
				     "<moodle_backup>\n"
				     "  <information>\n"
				     "    <name>x</nam>\n"
				     "  </information>\n"
				     "</moodle_backup>\n";
	static const char wrong_root[] = "<course><name>x</name></course>";
	static const char entity[] =
		"<!DOCTYPE moodle_backup [<!ENTITY x SYSTEM "
		"\"file:///etc/passwd\">]>\n"
		"<moodle_backup><information><name>&x;</name>"
		"</information></moodle_backup>";
	static const char bad_course[] = "<course id=\"1\"><shortname>";
	struct strbuf ar;
	struct mbz_info in;
	char err[ERRLEN];

	(void)state;
	build_moodle(false, broken, course_xml, &ar);
	expect_error(ar.buf, ar.len, MBZ_FULL,
		     "bad moodle_backup.xml: mismatched tag at line 4");
	sb_release(&ar);

	build_moodle(false, wrong_root, course_xml, &ar);
	expect_error(ar.buf, ar.len, MBZ_FULL,
		     "bad moodle_backup.xml: root element is 'course', not "
		     "'moodle_backup'");
	sb_release(&ar);

	/* Found by fuzzing: the end of <x/> came after the parser stopped. */
	build_moodle(false, "<x/>", "<course id=\"y\"/>", &ar);
	expect_error(ar.buf, ar.len, MBZ_FULL,
		     "bad course/course.xml: id: invalid number 'y'");
	sb_release(&ar);
	build_moodle(false, "<x/>", course_xml, &ar);
	expect_error(ar.buf, ar.len, MBZ_FULL,
		     "bad moodle_backup.xml: root element is 'x'");
	sb_release(&ar);

	build_moodle(false, backup_xml, bad_course, &ar);
	expect_error(ar.buf, ar.len, MBZ_FULL,
		     "bad course/course.xml: no element found at line 1");
	expect_error(ar.buf, ar.len, MBZ_FAST,
		     "bad course/course.xml: no element found at line 1");
	sb_release(&ar);

	/* An external entity is never loaded: it just expands to nothing. */
	build_moodle(false, entity, course_xml, &ar);
	mbz_info_init(&in);
	assert_int_equal(mbz_read_mem(ar.buf, ar.len, MBZ_FULL, &in, err,
				      sizeof(err)),
			 0);
	assert_string_equal(in.name, "");
	mbz_info_release(&in);
	sb_release(&ar);
}

static void test_bad_numbers(void **state)
{
	static const char *const bad[] = { "12abc", "", " 12", "+12",
					   "99999999999999999999", "0x10" };
	char *xml;
	struct strbuf ar;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		xml = xasprintf(BACKUP_HEAD "    <original_course_id>%s"
					    "</original_course_id>\n"
					    BACKUP_TAIL,
				bad[i]);
		build_moodle(false, xml, course_xml, &ar);
		expect_error(ar.buf, ar.len, MBZ_FULL,
			     "bad moodle_backup.xml: original_course_id: "
			     "invalid number '");
		sb_release(&ar);
		free(xml);
	}
	build_moodle(false, backup_xml,
		     "<course id=\"4x\" contextid=\"1\"></course>", &ar);
	expect_error(ar.buf, ar.len, MBZ_FAST,
		     "bad course/course.xml: id: invalid number '4x'");
	sb_release(&ar);
	build_moodle(false, backup_xml,
		     "<course><visible>3000000000</visible></course>", &ar);
	expect_error(ar.buf, ar.len, MBZ_FULL,
		     "bad course/course.xml: visible: invalid number");
	sb_release(&ar);
}

static void test_duplicate_member(void **state)
{
	const struct member m[] = {
		{ "course/course.xml", course_xml, 0 },
		{ "moodle_backup.xml", backup_xml, 0 },
		{ "moodle_backup.xml", backup_xml, 0 },
	};
	struct strbuf ar;

	(void)state;
	build(false, m, 3, &ar);
	expect_error(ar.buf, ar.len, MBZ_FULL,
		     "duplicate 'moodle_backup.xml' in archive");
	sb_release(&ar);
}

/* A text value over the 1 MiB cap fails without growing further. */
static void test_text_cap(void **state)
{
	size_t big = 1024 * 1024 + 1;
	struct strbuf xml, ar;

	(void)state;
	sb_init(&xml, 0);
	sb_adds(&xml, "<moodle_backup><information><original_course_fullname>");
	while (big--)
		sb_addch(&xml, 'a');
	sb_adds(&xml, "</original_course_fullname></information>"
		      "</moodle_backup>");
	build_moodle(false, xml.buf, course_xml, &ar);
	expect_error(ar.buf, ar.len, MBZ_FULL,
		     "bad moodle_backup.xml: <original_course_fullname> "
		     "longer than 1048576 bytes");
	sb_release(&ar);
	sb_release(&xml);
}

/*
 * moodle_backup.xml of MBZ_XML_CAP + 1 bytes, mostly spaces: ~64 KB once
 * compressed. Tar declares the size (refused before inflating); zip with
 * a data descriptor does not (refused while streaming).
 */
static void bomb(bool zip)
{
	static const char head[] = "<moodle_backup><information>";
	static const char tail[] = "</information></moodle_backup>";
	size_t total = (size_t)MBZ_XML_CAP + 1;
	size_t body = total - strlen(head) - strlen(tail);
	size_t chunk = 1024 * 1024, n;
	char *spaces = xmalloc(chunk);
	struct archive_entry *e = archive_entry_new();
	struct strbuf ar;
	struct archive *a = writer(zip, &ar);

	memset(spaces, ' ', chunk);
	add_member(a, "course/course.xml", course_xml, strlen(course_xml));
	archive_entry_set_pathname(e, "moodle_backup.xml");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)total);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	archive_write_data(a, head, strlen(head));
	for (; body; body -= n) {
		n = body < chunk ? body : chunk;
		assert_int_equal(archive_write_data(a, spaces, n),
				 (la_ssize_t)n);
	}
	archive_write_data(a, tail, strlen(tail));
	archive_entry_free(e);
	finish(a);
	assert_true(ar.len < 1024 * 1024);
	expect_error(ar.buf, ar.len, MBZ_FULL,
		     "bad moodle_backup.xml: larger than 67108864 bytes");
	sb_release(&ar);
	free(spaces);
}

static void test_bomb_tar(void **state)
{
	(void)state;
	bomb(false);
}

static void test_bomb_zip(void **state)
{
	(void)state;
	bomb(true);
}

static void test_read_path(void **state)
{
	char path[] = "/tmp/test_mbz_XXXXXX";
	struct strbuf ar;
	struct mbz_info in;
	char err[ERRLEN], hex[65];
	int fd;

	(void)state;
	build_moodle(false, backup_xml, course_xml, &ar);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, ar.buf, ar.len), (ssize_t)ar.len);
	close(fd);
	mbz_info_init(&in);
	assert_int_equal(mbz_read_path(path, MBZ_FULL, &in, err, sizeof(err)),
			 0);
	sha256_hex(ar.buf, ar.len, hex);
	assert_string_equal(in.sha256, hex);
	assert_int_equal(in.file_size, ar.len);
	check_layout_fields(&in);
	check_course_fields(&in);
	mbz_info_release(&in);
	assert_int_equal(mbz_read_path(path, MBZ_FAST, &in, err, sizeof(err)),
			 0);
	assert_int_equal(in.file_size, ar.len);
	check_course_fields(&in);
	mbz_info_release(&in);
	unlink(path);

	assert_int_equal(mbz_read_path(path, MBZ_FULL, &in, err, sizeof(err)),
			 -1);
	assert_true(starts_with(err, "cannot open '/tmp/test_mbz_"));
	assert_non_null(strstr(err, "': No such file or directory"));
	mbz_info_release(&in);
	sb_release(&ar);
}

/* --- the real backups --------------------------------------------------- */

struct real {
	const char *file;
	uint64_t size;
	const char *sha256;
	int64_t id;
	const char *shortname;
	const char *fullname;
	int64_t contextid;
	int64_t backup_date;
	int sections;
	int activities;
};

static const struct real reals[] = {
	{ "backup-moodle2-course-2-gen-xs-1-20261126-0709.mbz", 22043,
	  "341f5f1b2098940eb948d21af31b753394092f8f303d456ecf2949816f3e30f3",
	  2, "GEN-XS-1", "Cours g\xc3\xa9n\xc3\xa9r\xc3\xa9 GEN-XS-1", 15,
	  1795676950, 2, 5 },
	{ "backup-moodle2-course-6-phychim-2024-20261126-0709.mbz", 208589,
	  "784c0e8501e082e15b274bd983ad8d65e8afde572ae4c6ec5248380766613fb1",
	  6, "PHY/CHIM-2024", "Physique/Chimie 2024", 200, 1795676955, 4, 2 },
	{ "backup-moodle2-course-8-hist_moderne_amp;_g\xc3\xa9o-20261126-0709"
	  ".mbz",
	  4543,
	  "b52fbe42435eb7f579194761cd45d48f8111c23a8d945acc60435175f84a9623",
	  8, "HIST \"Moderne\" & G\xc3\xa9o",
	  "Histoire \"moderne\" & G\xc3\xa9ographie <b>", 211, 1795676957, 4,
	  1 },
	{ "backup-moodle2-course-9-vide-2024-20261126-0709.mbz", 3616,
	  "7e2104ae3fc8cc70c3d9578ac1fbfeb6fcc08063be41149ddb9af4865cda563d",
	  9, "VIDE-2024", "Cours vide 2024", 213, 1795676958, 4, 0 },
};

/* Path of a real fixture, or NULL after skip() when it is not there. */
static char *real_path(const struct real *r)
{
	const char *shared = getenv("SA_SHARED");
	char *path;

	if (!shared || !*shared) {
		print_message("SA_SHARED unset: real fixtures skipped\n");
		skip();
	}
	path = xasprintf("%s/fixtures/moodle-real/%s", shared, r->file);
	if (access(path, R_OK)) {
		print_message("%s missing: skipped\n", path);
		free(path);
		skip();
	}
	return path;
}

static void check_real_course(const struct real *r, const struct mbz_info *in)
{
	assert_true(in->have_course_xml);
	assert_int_equal(in->format, MBZ_FORMAT_TGZ);
	assert_int_equal(in->file_size, r->size);
	assert_int_equal(in->course_id, r->id);
	assert_int_equal(in->course_contextid, r->contextid);
	assert_string_equal(in->course_shortname, r->shortname);
	assert_string_equal(in->course_fullname, r->fullname);
	assert_string_equal(in->course_idnumber, "");
	assert_int_equal(in->course_startdate, 1795651200);
	assert_int_equal(in->course_enddate, 0);
	assert_int_equal(in->course_visible, 1);
}

static void test_real_full(void **state)
{
	const struct real *r = *state;
	char *path = real_path(r);
	char *name = xasprintf("%s", r->file);
	struct mbz_info in;
	char err[ERRLEN];

	mbz_info_init(&in);
	if (mbz_read_path(path, MBZ_FULL, &in, err, sizeof(err)))
		fail_msg("%s: %s", r->file, err);
	assert_string_equal(in.sha256, r->sha256);
	assert_true(in.have_backup_xml);
	assert_string_equal(in.name, name);
	assert_int_equal(in.moodle_version, 2024100706);
	assert_string_equal(in.moodle_release, "4.5.6 (Build: 20250811)");
	assert_int_equal(in.backup_version, 2024100700);
	assert_string_equal(in.backup_release, "4.5");
	assert_int_equal(in.backup_date, r->backup_date);
	assert_string_equal(in.original_wwwroot, "http://localhost/src");
	assert_string_equal(in.original_site_identifier_hash,
			    "8c7c090f9a24e0f17e92e0bb2a8106a6");
	assert_int_equal(in.original_course_id, r->id);
	assert_string_equal(in.original_course_format, "topics");
	assert_string_equal(in.original_course_shortname, r->shortname);
	assert_string_equal(in.original_course_fullname, r->fullname);
	assert_int_equal(in.original_course_startdate, 1795651200);
	assert_int_equal(in.original_course_enddate, 0);
	assert_int_equal(in.original_course_contextid, r->contextid);
	assert_string_equal(in.backup_type, "course");
	assert_int_equal(in.section_count, r->sections);
	assert_int_equal(in.activity_count, r->activities);
	check_real_course(r, &in);
	mbz_info_release(&in);
	free(name);
	free(path);
}

/* FAST: course.xml values, no hash, and the file is not read to its end. */
static void test_real_fast(void **state)
{
	const struct real *r = *state;
	char *path = real_path(r);
	struct mbz_info in;
	char err[ERRLEN];
	off_t fast_end, full_end;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	mbz_info_init(&in);
	if (mbz_read_fd(fd, MBZ_FAST, &in, err, sizeof(err)))
		fail_msg("%s: %s", r->file, err);
	fast_end = lseek(fd, 0, SEEK_CUR);
	assert_string_equal(in.sha256, "");
	assert_false(in.have_backup_xml);
	assert_null(in.original_course_shortname);
	check_real_course(r, &in);
	mbz_info_release(&in);

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(mbz_read_fd(fd, MBZ_FULL, &in, err, sizeof(err)), 0);
	full_end = lseek(fd, 0, SEEK_CUR);
	assert_int_equal(full_end, (off_t)r->size);
	/* Files bigger than one 128 KiB read block stop early. */
	if (r->size > 128 * 1024)
		assert_true(fast_end < full_end);
	mbz_info_release(&in);
	close(fd);
	free(path);
}

#define REAL(i)                                                   \
	cmocka_unit_test_prestate(test_real_full, (void *)&reals[i]), \
		cmocka_unit_test_prestate(test_real_fast, (void *)&reals[i])

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_moodle_layout_full),
		cmocka_unit_test(test_moodle_layout_fast),
		cmocka_unit_test(test_zip_format),
		cmocka_unit_test(test_not_archives),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_trailing_data),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_no_backup_xml),
		cmocka_unit_test(test_bad_xml),
		cmocka_unit_test(test_bad_numbers),
		cmocka_unit_test(test_duplicate_member),
		cmocka_unit_test(test_text_cap),
		cmocka_unit_test(test_bomb_tar),
		cmocka_unit_test(test_bomb_zip),
		cmocka_unit_test(test_read_path),
		REAL(0),
		REAL(1),
		REAL(2),
		REAL(3),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
