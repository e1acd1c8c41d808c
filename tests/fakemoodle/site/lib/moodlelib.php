<?php
// fakemoodle: the parts of Moodle's lib/moodlelib.php the fake scripts and the bridge use
// (strings, clean_param, get_config, print_error, delete_course, remove_course_contents,
// fix_course_sortorder). setup.php loads it, as Moodle's setup does.
//
// What setup.php does NOT load, as in Moodle: course/lib.php (course_get_format(),
// update_course(), course_change_visibility()). remove_course_contents() calls
// course_get_format() half way, so a caller that has not required course/lib.php dies there
// with "Call to undefined function course_get_format()", the course left partly emptied: what
// Moodle 4.5.6's admin/cli/delete_course.php --disablerecyclebin does (MOODLE.md). With the
// recycle bin on, its backup loads course/lib.php first and the delete completes.

define('PARAM_TEXT', 'text');
define('PARAM_INT', 'int');

/** The few English strings the fake prints (lang/en). */
function get_string($identifier, $component = '', $a = null) {
    static $strings = array(
        'cleaningtempdata' => 'Cleaning temp data',
        'deleted' => 'Deleted',
        'extractingbackupfileto' => 'Extracting backup file to: {$a}',
        'filenotfound' => 'Sorry, the requested file could not be found',
        'generalexceptionmessage' => 'Exception - {$a}',
        'invalidcategoryid' => 'Incorrect category ID!',
        'noadmins' => 'There are no admins',
        'preprocessingbackupfile' => 'Preprocessing backup file',
        'restoredcourseid' => 'Restored course ID: {$a}',
        'restoringcourse' => 'Course restoration in progress',
        'restoringcourseshortname' => 'restoring',
    );
    if (!isset($strings[$identifier])) {
        return "[[$identifier]]";
    }
    return str_replace('{$a}', (string)$a, $strings[$identifier]);
}

/** print_error(): throws the moodle_exception whose message is the error string. */
function print_error($errorcode, $module = 'error', $link = '', $a = null) {
    throw new moodle_exception($errorcode, $module, get_string($errorcode, $module, $a));
}

/**
 * clean_param() for PARAM_TEXT and PARAM_INT. PARAM_TEXT: valid UTF-8, tags stripped except the
 * multilang <span lang> / <lang> syntax when it is balanced, as Moodle does.
 */
function clean_param($param, $type) {
    if ($type === PARAM_INT) {
        return (int)$param;
    }
    $param = (string)$param;
    if (!preg_match('//u', $param)) {
        $param = (string)@iconv('UTF-8', 'UTF-8//IGNORE', $param);
    }
    if (strpos($param, '</lang>') !== false) {
        return strip_tags($param, '<lang>');
    }
    if (strpos($param, '</span>') !== false) {
        return strip_tags($param, '<span>');
    }
    return strip_tags($param);
}

/**
 * get_config($plugin, $name): config_plugins, with $CFG->forced_plugin_settings on top (what
 * delete_course.php --disablerecyclebin sets). get_config('core', $name) reads the config table.
 */
function get_config($plugin, $name = null) {
    global $CFG, $DB;
    if ($plugin === 'core' || $plugin === 'moodle' || $plugin === null) {
        return $DB->get_config($name);
    }
    if (isset($CFG->forced_plugin_settings[$plugin]) &&
            array_key_exists($name, $CFG->forced_plugin_settings[$plugin])) {
        return (string)$CFG->forced_plugin_settings[$plugin][$name];
    }
    return $DB->get_field_sql("SELECT value FROM {config_plugins} WHERE plugin = ? AND name = ?",
                              array($plugin, $name));
}

/** fix_course_sortorder(): here, only the coursecount of every category. */
function fix_course_sortorder() {
    global $DB;
    $DB->execute("UPDATE {course_categories} cc SET coursecount =
                    (SELECT COUNT(*) FROM {course} c WHERE c.category = cc.id)");
}

/** $OUTPUT->notification() of the CLI renderer. */
function fm_notification($text) {
    echo "++ $text ++\n";
}

/**
 * delete_course(): the plugins' pre_course_delete callbacks (tool_recyclebin backs the course up
 * into its category's bin), then remove_course_contents(), then the course row and context.
 * false for the site course and an unknown id, as in Moodle.
 */
function delete_course($courseorid, $showfeedback = true) {
    global $CFG, $DB;
    if (is_object($courseorid)) {
        $course = $courseorid;
    } else if (!$course = $DB->get_record('course', array('id' => $courseorid))) {
        return false;
    }
    if ($course->id == SITEID) {
        return false;
    }
    // Fake faults, here so that every way of deleting meets them.
    $fault = fm_fault('delete', array($course->id));
    if ($fault === 'exit1') {
        throw new moodle_exception('dmlwriteexception', 'error', 'Error writing to database');
    }
    if (strpos($fault, 'deadlock:') === 0) {
        // MariaDB rolls back one of two transactions that wait on each other: the first N deletes
        $count = $CFG->dataroot . '/fakemoodle-deadlocks-' . $course->id;
        $seen = is_readable($count) ? (int)file_get_contents($count) : 0;
        if ($seen < (int)substr($fault, 9)) {
            file_put_contents($count, (string)($seen + 1));
            throw new dml_write_exception('Deadlock found when trying to get lock; try restarting transaction',
                                          'DELETE FROM {course_modules} WHERE course = ?');
        }
        $fault = '';
    }
    fm_apply_generic_fault($fault);   // hang, slow:S, cpu:S, fatal, memory:MB
    fm_pay_cost('work_ms');

    // get_plugins_with_function('pre_course_delete')
    require_once($CFG->dirroot . '/admin/tool/recyclebin/lib.php');
    tool_recyclebin_pre_course_delete($course);

    remove_course_contents($course->id, $showfeedback);

    $ctx = fm_context(FM_CONTEXT_COURSE, $course->id);
    if ($ctx) {
        $DB->execute("DELETE FROM {files} WHERE contextid = ?", array($ctx->id));
        $DB->execute("DELETE FROM {context} WHERE id = ?", array($ctx->id));
    }
    $DB->execute("DELETE FROM {backup_controllers} WHERE itemid = ? AND type = 'course'", array($course->id));
    $DB->execute("DELETE FROM {course} WHERE id = ?", array($course->id));
    fm_update_coursecount($course->category);
    return true;
}

/**
 * remove_course_contents(): empties the course, step by step, each step announced when
 * $showfeedback. Activities, blocks, questions, enrolments and groups go first; then
 * course_get_format() (course/lib.php) removes the format's data: without course/lib.php loaded
 * the function does not exist and the course stays half emptied.
 */
function remove_course_contents($courseid, $showfeedback = true, ?array $options = null) {
    global $DB;
    $strdeleted = get_string('deleted') . ' - ';
    $say = function ($what) use ($showfeedback, $strdeleted) {
        if ($showfeedback) {
            fm_notification($strdeleted . $what);
        }
    };
    $course = $DB->get_record('course', array('id' => $courseid));
    if (!$course) {
        throw new moodle_exception('invalidrecord', 'error', "Can't find data record in database table course.");
    }
    $coursectx = fm_context(FM_CONTEXT_COURSE, $courseid);

    $say('Course completion data');
    $say('Grades');
    $say('Blocks');
    $mods = $DB->get_records_sql("SELECT cm.id, cm.instance, m.name FROM {course_modules} cm
                                    JOIN {modules} m ON m.id = cm.module WHERE cm.course = ?", array($courseid));
    $names = array();
    foreach ($mods as $cm) {
        if ($DB->table_exists($cm->name)) {
            $DB->execute("DELETE FROM {" . $cm->name . "} WHERE id = ?", array($cm->instance));
        }
        $ctx = fm_context(FM_CONTEXT_MODULE, $cm->id);
        if ($ctx) {
            $DB->execute("DELETE FROM {files} WHERE contextid = ?", array($ctx->id));
            $DB->execute("DELETE FROM {context} WHERE id = ?", array($ctx->id));
        }
        $DB->execute("DELETE FROM {course_modules} WHERE id = ?", array($cm->id));
        $names[ucfirst($cm->name)] = true;
    }
    ksort($names);   // Moodle walks the installed modules by name
    foreach (array_keys($names) as $name) {
        $say($name);
    }
    $say('Activities');
    $say('Reports');
    $say('Course reports');
    $say('Course formats');
    $say('Question bank');
    $say('Enrolment methods');
    $say('Groupings');
    $say('Groups');

    if (fm_fault('delete', array($courseid)) === 'die') {
        fm_die_now();   // killed half way: the course is still there, partly emptied
    }
    course_get_format($course)->delete_format_data();

    if ($coursectx) {
        // Whatever is left below the course context (blocks, filters...).
        $DB->execute("DELETE FROM {files} WHERE contextid IN (SELECT id FROM {context} WHERE path LIKE ?)",
                     array($coursectx->path . '/%'));
        $DB->execute("DELETE FROM {context} WHERE path LIKE ?", array($coursectx->path . '/%'));
    }
    $say('Filters');
    $say('Notes');
    $say('Comments');
    $say('Ratings');
    $DB->execute("DELETE FROM {course_sections} WHERE course = ?", array($courseid));
    $say('Course sections');
    if ($coursectx) {
        $DB->execute("DELETE FROM {files} WHERE contextid = ?", array($coursectx->id));
    }
    $say('Files');
    return true;
}
