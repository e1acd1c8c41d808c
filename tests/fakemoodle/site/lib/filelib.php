<?php
// fakemoodle: lib/filelib.php (loaded by setup.php, as in Moodle): fulldelete() and the backup
// file packer.

/** Removes a file or a folder with everything in it. */
function fulldelete($location) {
    if (is_dir($location) && !is_link($location)) {
        fm_rrmdir($location);
        return !file_exists($location);
    }
    return !file_exists($location) || @unlink($location);
}

/** Moodle's tgz_packer, extraction only. */
class fm_tgz_packer {
    /** true when the whole archive was extracted; else what went wrong (what could be read stays). */
    public function extract_to_pathname($archivefile, $pathname) {
        return fm_extract_tgz($archivefile, $pathname);
    }
}

function get_file_packer($mimetype = 'application/zip') {
    return new fm_tgz_packer();
}
