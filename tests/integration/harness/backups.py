"""Moodle backups built in memory, as small as a test wants them: the
moodle_backup.xml of a course and the gzip'd ustar archive around members.
"""
import gzip
import io
import tarfile


def backup_xml(cid, shortname, fullname, pad=b""):
    """moodle_backup.xml of course cid; pad goes first in <information>."""
    head = (b'<?xml version="1.0" encoding="UTF-8"?>\n<moodle_backup>\n'
            b"  <information>\n")
    return head + pad + (
            f"    <name>backup-moodle2-course-{cid}-x.mbz</name>\n"
            f"    <moodle_version>2024100706</moodle_version>\n"
            f"    <moodle_release>4.5.6 (Build: 20250811)</moodle_release>\n"
            f"    <backup_version>2024100700</backup_version>\n"
            f"    <backup_release>4.5</backup_release>\n"
            f"    <backup_date>1795676950</backup_date>\n"
            f"    <original_wwwroot>http://localhost/src</original_wwwroot>\n"
            f"    <original_site_identifier_hash>"
            f"8c7c090f9a24e0f17e92e0bb2a8106a6"
            f"</original_site_identifier_hash>\n"
            f"    <original_course_id>{cid}</original_course_id>\n"
            f"    <original_course_format>topics</original_course_format>\n"
            f"    <original_course_fullname>{fullname}"
            f"</original_course_fullname>\n"
            f"    <original_course_shortname>{shortname}"
            f"</original_course_shortname>\n"
            f"    <original_course_contextid>{cid + 1000}"
            f"</original_course_contextid>\n"
            f"    <details><detail backup_id=\"x\"><type>course</type>"
            f"</detail></details>\n"
            f"    <contents><sections><section><title>0</title></section>"
            f"</sections></contents>\n"
            f"  </information>\n</moodle_backup>\n").encode()


def make_tgz(path, members, level=6):
    """A gzip'd ustar archive of (name, bytes) members, like Moodle's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), 1795676950, 0o644
            tf.addfile(ti, io.BytesIO(data))
    path.write_bytes(gzip.compress(raw.getvalue(), compresslevel=level,
                                   mtime=0))
    return path
