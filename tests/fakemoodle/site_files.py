"""The fake site's file storage: the dataroot's filedir/ content pool (one
file per sha1 contenthash) and the files table rows that point into it,
as Moodle's file_storage writes them."""

import hashlib
import mimetypes
import os
import random
import secrets
import time

from site_database import CONTEXT_COURSE

CHUNK = 1 << 20


def _content_chunks(spec):
    """Yield the bytes of a content spec, in chunks (never the whole content at once).

    spec: bytes | int (that many random bytes, unique) |
          dict(size=N, kind='random'|'text'|'zero', seed=anything-hashable)
          (same dict => same bytes => same contenthash).
    """
    if isinstance(spec, (bytes, bytearray)):
        for i in range(0, len(spec), CHUNK):
            yield bytes(spec[i:i + CHUNK])
        return
    if isinstance(spec, int):
        spec = {"size": spec}
    size = int(spec["size"])
    kind = spec.get("kind", "random")
    seed = spec.get("seed")
    if kind == "zero":
        left = size
        block = b"\0" * CHUNK
        while left > 0:
            n = min(left, CHUNK)
            yield block[:n]
            left -= n
        return
    if kind == "text":
        rnd = random.Random(repr(seed) if seed is not None else secrets.token_hex(8))
        words = ["cours", "leçon", "exercice", "élève", "mathématiques", "physique", "histoire",
                 "géographie", "chapitre", "devoir", "examen", "corrigé", "annexe", "théorème"]
        lines = []
        for i in range(2000):
            lines.append(" ".join(rnd.choice(words) for _ in range(10)) + " %d\n" % i)
        block = "".join(lines).encode()
        while len(block) < CHUNK:
            block += block
        block = block[:CHUNK]
        left = size
        while left > 0:
            n = min(left, CHUNK)
            yield block[:n]
            left -= n
        return
    # random
    if seed is None:
        left = size
        while left > 0:
            n = min(left, CHUNK)
            yield os.urandom(n)
            left -= n
        return
    rnd = random.Random(repr(seed))
    base = rnd.randbytes(min(size, CHUNK)) if size else b""
    left, i = size, 0
    while left > 0:
        n = min(left, CHUNK)
        block = base if i == 0 else i.to_bytes(8, "little") + base[8:]
        yield block[:n]
        left -= n
        i += 1


class SiteFiles:
    """FakeSite's file pool half: needs dataroot, query() and context()."""

    def store_content(self, content):
        """Write content into the file pool (streamed). Returns (contenthash, size)."""
        tmpdir = os.path.join(self.dataroot, "temp", "filestorage")
        os.makedirs(tmpdir, exist_ok=True)
        tmp = os.path.join(tmpdir, "new-" + secrets.token_hex(8))
        h = hashlib.sha1()
        size = 0
        with open(tmp, "wb") as out:
            for chunk in _content_chunks(content):
                h.update(chunk)
                out.write(chunk)
                size += len(chunk)
        ch = h.hexdigest()
        dest = self.filedir_path(ch)
        if os.path.exists(dest):
            os.unlink(tmp)
        else:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            os.replace(tmp, dest)
        return ch, size

    def filedir_path(self, contenthash):
        return os.path.join(self.dataroot, "filedir", contenthash[:2], contenthash[2:4], contenthash)

    @staticmethod
    def pathnamehash(contextid, component, filearea, itemid, filepath, filename):
        return hashlib.sha1(("/%d/%s/%s/%d%s%s" % (contextid, component, filearea, itemid, filepath, filename))
                            .encode()).hexdigest()

    def _file_row(self, contextid, component, filearea, itemid, filepath, filename, ch, size, mimetype, t,
                  sortorder=0):
        pnh = self.pathnamehash(contextid, component, filearea, itemid, filepath, filename)
        if self.query("SELECT id FROM {files} WHERE pathnamehash = %s", (pnh,)):
            return
        self.query("INSERT INTO {files} (contenthash, pathnamehash, contextid, component, filearea, itemid,"
                   " filepath, filename, userid, filesize, mimetype, status, source, author, license,"
                   " timecreated, timemodified, sortorder, referencefileid)"
                   " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,NULL,%s,%s,0,NULL,NULL,NULL,%s,%s,%s,NULL)",
                   (ch, pnh, contextid, component, filearea, itemid, filepath, filename, size, mimetype, t, t,
                    sortorder))

    def add_file(self, contextid, component, filearea, itemid, name, content, sortorder=0, time_=None):
        """Add one stored file (+ the '.' directory rows Moodle keeps). name may be 'sub/dir/file'."""
        t = time_ or int(time.time())
        parts = name.strip("/").split("/")
        filename = parts[-1]
        filepath = "/" + "".join(p + "/" for p in parts[:-1])
        acc = "/"
        self._file_row(contextid, component, filearea, itemid, "/", ".", hashlib.sha1(b"").hexdigest(), 0, None, t)
        for p in parts[:-1]:
            acc += p + "/"
            self._file_row(contextid, component, filearea, itemid, acc, ".", hashlib.sha1(b"").hexdigest(), 0,
                           None, t)
        ch, size = self.store_content(content)
        mt = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        self._file_row(contextid, component, filearea, itemid, filepath, filename, ch, size, mt, t, sortorder)
        return ch, size

    def course_files(self, course_id, include_dirs=False):
        """files rows of the course context subtree (component backup excluded)."""
        ctx = self.context(CONTEXT_COURSE, course_id)
        if not ctx:
            return []
        sql = ("SELECT f.* FROM {files} f JOIN {context} c ON c.id = f.contextid"
               " WHERE (c.id = %s OR c.path LIKE %s) AND f.component <> 'backup'")
        if not include_dirs:
            sql += " AND f.filename <> '.'"
        return self.query(sql + " ORDER BY f.id", (ctx["id"], ctx["path"] + "/%"))

    def course_estimate(self, course_id):
        """MOODLE.md's estimate: sum of filesize over the DISTINCT contenthash of the course subtree."""
        seen = {}
        for f in self.course_files(course_id):
            seen[f["contenthash"]] = f["filesize"]
        return sum(seen.values())
