<?php
// fakemoodle: course/lib.php. Moodle's setup does not load this file: scripts and plugins
// require_once it when they need it (the bridge does; admin/cli/delete_course.php does not).
// In Moodle course_get_format() lives in course/format/lib.php, which course/lib.php requires.

/** The course's format (course/format/lib.php): only what remove_course_contents() calls. */
class fm_course_format {
    private $courseid;

    public function __construct($courseid) {
        $this->courseid = $courseid;
    }

    /** Removes the format's options of the course (course_format_options in Moodle). */
    public function delete_format_data() {
        return true;
    }
}

function course_get_format($courseorid) {
    return new fm_course_format(is_object($courseorid) ? $courseorid->id : (int)$courseorid);
}

/**
 * update_course(): writes the given fields of an existing course. Like Moodle, a shortname
 * already used by another course is refused ('shortnametaken'). Moving a course to another
 * category (context paths) is not done here.
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

/** course_change_visibility(), as in Moodle. */
function course_change_visibility($courseid, $show = true) {
    $course = new stdClass();
    $course->id = $courseid;
    $course->visible = ($show) ? '1' : '0';
    $course->visibleold = $course->visible;
    update_course($course);
    return true;
}
