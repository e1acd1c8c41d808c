<?php
// fakemoodle: admin/tool/recyclebin/lib.php. Its pre_course_delete callback backs a course up
// into its category's recycle bin before delete_course() empties it, when the category bin is
// on (config_plugins tool_recyclebin/categorybinenable, or $CFG->forced_plugin_settings). The
// fake keeps those backups in <dataroot>/recyclebin/course-<id>-<time>.mbz. Moodle's backup
// code loads course/lib.php: so does this.

function tool_recyclebin_pre_course_delete($course) {
    global $CFG;
    // A course deleted by a restore in progress does not go to the bin (Moodle's own rule).
    if (isset($course->deletesource) && $course->deletesource == 'restore') {
        return;
    }
    if (!get_config('tool_recyclebin', 'categorybinenable')) {
        return;
    }
    require_once($CFG->dirroot . '/course/lib.php');
    require_once($CFG->libdir . '/backuplib.php');
    $dir = $CFG->dataroot . '/recyclebin';
    fm_mkdir($dir);
    $time = time();
    fm_write_backup($course, $dir . '/course-' . $course->id . '-' . $time . '.mbz',
                    fm_backup_filename($course, $time), $time);
}
