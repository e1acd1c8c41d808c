<?php
// fakemoodle: the few Moodle API functions around courses the bridge uses. In Moodle,
// update_course() and course_change_visibility() live in course/lib.php (which callers
// require_once) and get_admin() in lib/datalib.php; this fake has no course/ directory, so
// setup.php loads them all from here.

if (!defined('MUST_EXIST')) {
    define('IGNORE_MISSING', 0);   // lib/dmllib.php
    define('IGNORE_MULTIPLE', 1);
    define('MUST_EXIST', 2);
}
if (!defined('SITEID')) {
    define('SITEID', 1);
}

/** lib/datalib.php: the main admin (there is no user table here: a fixed record). */
function get_admin() {
    return (object)array('id' => 2, 'username' => 'admin', 'auth' => 'manual', 'deleted' => 0);
}

/**
 * course/lib.php update_course(): writes the given fields of an existing course. Like Moodle,
 * a shortname already used by another course is refused ('shortnametaken'). Moving a course to
 * another category (context paths) is not done here.
 */
function update_course($data, $editoroptions = null) {
    global $DB;
    $data = (object)$data;
    $old = $DB->get_record('course', array('id' => $data->id));
    if (!$old) {
        throw new moodle_exception('invalidcourseid', 'error', 'You are trying to use an invalid course ID');
    }
    if (isset($data->shortname) && $data->shortname !== $old->shortname &&
            $DB->record_exists_sql("SELECT id FROM {course} WHERE shortname = ? AND id <> ?",
                                   array($data->shortname, $data->id))) {
        throw new moodle_exception('shortnametaken', 'error', 'Short name is already used for another course');
    }
    $row = array('id' => $data->id);
    foreach ($data as $k => $v) {
        if ($k !== 'id' && property_exists($old, $k)) {
            $row[$k] = $v;
        }
    }
    $row['timemodified'] = time();
    $DB->update_record('course', $row);
}

/** course/lib.php course_change_visibility(), as in Moodle. */
function course_change_visibility($courseid, $show = true) {
    $course = new stdClass();
    $course->id = $courseid;
    $course->visible = ($show) ? '1' : '0';
    $course->visibleold = $course->visible;
    update_course($course);
    return true;
}
