<?php
// sessionarchiver-bridge.php: the Moodle operations sessionarchiver does through Moodle's PHP API
// rather than an admin/cli script: where Moodle has no script (course categories, hiding a
// course, finding a restored course), where Moodle 4.5's script fails (delete_course.php
// without course/lib.php; restore_backup.php on a course name holding a tag), and where one
// Moodle process should do many courses (the worker: backup.php's work without its bootstrap).
//
// The C tool (moodle/bridge.c) runs it as Moodle's system user (through setpriv when configured),
// like the admin/cli scripts:
//
//     php sessionarchiver-bridge.php --moodle=/var/www/moodle [--recyclebin=yes|no] COMMAND [--opt=value ...]
//
//   version                                        {"bridge":1,"moodle_release":"..","moodle_version":".."}
//   ping                                           {"pong":<pid>}
//   create-category --name=N --parent=ID [--idnumber=X] [--description=D]
//                                                  {"id","name","idnumber","parent","path","depth"}
//   find-category --parent=ID --name=N             {"id":N} (lowest id of the children named exactly N)
//                                                  or {"id":null}
//   category-context --id=N                        {"id":N,"contextid":C} (made when missing, as
//                                                  context_coursecat::instance() does)
//   delete-category --id=N                         {"deleted":N}   (only an empty category)
//   delete-course --id=N                           {"deleted":N} or {"gone":N} (no such course)
//   backup --id=N --destination=DIR                {"file":"DIR/<name>","name":"<name>","size":<bytes>}
//                                                  what admin/cli/backup.php --courseid=N
//                                                  --destination=DIR does (the same controller,
//                                                  settings and file name); size 0 when Moodle
//                                                  said it wrote a file that is not there
//   restore --file=F --categoryid=N                {"id","fullname","shortname","original_fullname",
//                                                   "original_shortname","cleaned_fullname",
//                                                   "cleaned_shortname","cleaned"}
//                                                  (cleaned_*: the names given to the restore, before
//                                                  Moodle's own renaming of a copy)
//   hide-course --id=N                             {"id":N,"visible":0}
//   find-course --category=ID --shortname=S        {"courses":[{"id","shortname","fullname"}...]}
//                                                  shortname S or S_<digits> (restore's renaming), by id
//   worker                                         the same commands, many per process: see sa_worker()
//                                                  (each answer there also has "peak_memory" and
//                                                  "memory", in bytes)
//
// --recyclebin=no switches tool_recyclebin's course and category bins off for this process only
// (what delete_course.php --disablerecyclebin does). --session=S is ignored: it names the run a
// worker belongs to in the process list.
//
// Output: Moodle may print warnings or debugging on stdout before us, so the answer is the line
// right after the marker line "SESSIONARCHIVER-JSON:" (printed once, at the start of a line).
// Success: exit 0 and a JSON object without "error". Failure: exit status non-zero (1 for every
// error the bridge catches) and {"error":"<message>","errorcode":"<Moodle errorcode or ''>"}.
// Errorcodes of our own: invalidcategoryid (unknown category id), categorynotempty, invalidcourseid,
// filenotfound, cannotdeletecourse, invaliddestination ("Destination directory does not exists or
// not writable.", backup.php's words), cannotcopybackup (the backup could not be copied to the
// destination and stays in the course backup area, as backup.php says). Usage errors have
// errorcode ''. If Moodle exits during its setup (database down, CLI maintenance mode...) or PHP
// stops on a fatal error (exit status 255, out of memory...), a shutdown function still prints
// the marker and an error object.
//
// Only Moodle's API writes (core_course_category::create/delete_full, delete_course,
// restore_controller, backup_controller, course_change_visibility); plain $DB reads are used where Moodle has no
// reader. Works on Moodle 4.5 and on the test bench's fake site (tests/fakemoodle).

define('SA_MARKER', 'SESSIONARCHIVER-JSON:');

/** An error found by the bridge itself: the message and errorcode go to the caller as they are. */
class sessionarchiver_bridge_error extends Exception {
    public $errorcode;
    public function __construct($message, $errorcode = '') {
        parent::__construct($message);
        $this->errorcode = $errorcode;
    }
}

$saanswered = false;

function sa_answer(array $obj, $status) {
    global $saanswered;
    $saanswered = true;
    $json = json_encode($obj, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE);
    if ($json === false) {
        $json = '{"error":"cannot encode the answer","errorcode":""}';
    }
    // The leading newline: Moodle's last output line may lack one.
    echo "\n" . SA_MARKER . "\n" . $json . "\n";
    exit($status);
}

// Moodle's setup ends the process by itself on some errors (no database, maintenance mode):
// answer anyway so the caller reads a reason instead of guessing from free text.
register_shutdown_function(function () {
    global $saanswered;
    if (!$saanswered) {
        $last = error_get_last();
        $why = $last ? $last['message'] : 'Moodle ended the bridge before it could answer (see the output above)';
        $saanswered = true;
        echo "\n" . SA_MARKER . "\n" . json_encode(array('error' => $why, 'errorcode' => ''),
            JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE) . "\n";
    }
});

/** A non-negative integer option, or a usage error. */
function sa_int($opts, $name) {
    $v = $opts[$name];
    if (!is_string($v) || !preg_match('/^[0-9]{1,18}$/', $v)) {
        throw new sessionarchiver_bridge_error("--$name=<integer> is required");
    }
    return (int)$v;
}

/** A string option (may be empty), or a usage error. */
function sa_str($opts, $name) {
    if (!is_string($opts[$name])) {
        throw new sessionarchiver_bridge_error("--$name=<value> is required");
    }
    return $opts[$name];
}

/** The category, or 'invalidcategoryid': Moodle itself says 'unknowncategory' or 'cannotviewcategory'. */
function sa_category($id) {
    $cat = core_course_category::get($id, IGNORE_MISSING, true);
    if (!$cat) {
        throw new sessionarchiver_bridge_error("category $id does not exist", 'invalidcategoryid');
    }
    return $cat;
}

/** A course record, or null: the site course is never one of ours. */
function sa_course($id) {
    global $DB;
    $course = $DB->get_record('course', array('id' => $id));
    return ($course && $id != SITEID) ? $course : null;
}

/**
 * Deletes a course as admin/cli/delete_course.php does, with course/lib.php loaded (Moodle 4.5's
 * script does not load it: with its recycle bin off, delete_course() dies half way). A course
 * that is not there any more is "gone", not an error: a run killed after deleting it comes back.
 */
function sa_delete_course($id) {
    global $CFG;
    require_once($CFG->dirroot . '/course/lib.php');
    if ($id == SITEID) {
        throw new sessionarchiver_bridge_error("course $id is the site itself", 'invalidcourseid');
    }
    $course = sa_course($id);
    if (!$course) {
        return array('gone' => $id);
    }
    if (!delete_course($course, false)) {
        throw new sessionarchiver_bridge_error("Moodle did not delete course $id", 'cannotdeletecourse');
    }
    fix_course_sortorder();
    return array('deleted' => $id);
}

/**
 * The extracted backup's original course name, cleaned as the restore's PARAM_TEXT settings want
 * it: Moodle 4.5 refuses a backup whose name holds a tag (setting_invalid_text) before any setting
 * can be changed, so the cleaned value is written into the extracted moodle_backup.xml, the only
 * place the restore reads it from. Returns array(original, cleaned).
 */
function sa_clean_backup_name($path, $element) {
    $file = $path . '/moodle_backup.xml';
    $xml = @file_get_contents($file);
    if ($xml === false) {
        throw new sessionarchiver_bridge_error('the backup has no moodle_backup.xml', 'missing_moodle_backup_xml_file');
    }
    $re = '~<' . $element . '>(.*?)</' . $element . '>~s';
    if (!preg_match($re, $xml, $m)) {
        return array(null, null);
    }
    $original = html_entity_decode($m[1], ENT_QUOTES | ENT_XML1, 'UTF-8');
    $cleaned = clean_param($original, PARAM_TEXT);
    if ($cleaned !== $original) {
        $escaped = htmlspecialchars($cleaned, ENT_QUOTES | ENT_XML1, 'UTF-8');
        $xml = preg_replace($re, '<' . $element . '>' . strtr($escaped, array('\\' => '\\\\', '$' => '\\$'))
                            . '</' . $element . '>', $xml, 1);
        if (file_put_contents($file, $xml) === false) {
            throw new sessionarchiver_bridge_error("cannot write $file");
        }
    }
    return array($original, $cleaned);
}

/**
 * Restores a backup into a new course of the category, as admin/cli/restore_backup.php does (the
 * same controller, mode, target and user), the course names cleaned first. A failed restore
 * leaves neither the temp folder nor the new course behind.
 */
function sa_restore($file, $catid) {
    global $CFG, $DB;
    require_once($CFG->dirroot . '/backup/util/includes/restore_includes.php');
    require_once($CFG->dirroot . '/course/lib.php');
    if (!is_file($file)) {
        throw new sessionarchiver_bridge_error("backup $file does not exist", 'filenotfound');
    }
    sa_category($catid);
    $backupdir = bin2hex(random_bytes(16));
    $path = $CFG->tempdir . '/backup/' . $backupdir;
    $courseid = 0;
    try {
        if (get_file_packer('application/vnd.moodle.backup')->extract_to_pathname($file, $path) !== true) {
            throw new sessionarchiver_bridge_error("cannot extract $file", 'corrupted_archive_structure');
        }
        list($fullname, $cleanfullname) = sa_clean_backup_name($path, 'original_course_fullname');
        list($shortname, $cleanshortname) = sa_clean_backup_name($path, 'original_course_shortname');
        list($tmpfull, $tmpshort) = restore_dbops::calculate_course_names(0, get_string('restoringcourse', 'backup'),
            get_string('restoringcourseshortname', 'backup'));
        $courseid = restore_dbops::create_new_course($tmpfull, $tmpshort, $catid);
        $rc = new restore_controller($backupdir, $courseid, backup::INTERACTIVE_NO, backup::MODE_GENERAL,
                                     get_admin()->id, backup::TARGET_NEW_COURSE);
        $rc->execute_precheck();
        $rc->execute_plan();
        $rc->destroy();
    } catch (Throwable $e) {
        fulldelete($path);
        if ($courseid && ($course = sa_course($courseid))) {
            $course->deletesource = 'restore';   // the recycle bin keeps no copy of it
            delete_course($course, false);
        }
        throw $e;
    }
    $course = sa_course($courseid);
    return array('id' => (int)$courseid, 'fullname' => $course->fullname, 'shortname' => $course->shortname,
                 'original_fullname' => $fullname, 'original_shortname' => $shortname,
                 'cleaned_fullname' => $cleanfullname, 'cleaned_shortname' => $cleanshortname,
                 'cleaned' => $fullname !== $cleanfullname || $shortname !== $cleanshortname);
}

/**
 * Backs a course up into the directory $dir, as admin/cli/backup.php --destination does (Moodle
 * 4.5: the same controller, mode, user, settings and default file name; the backup made in the
 * course backup area, copied out, then deleted there).
 */
function sa_backup($id, $dir) {
    global $CFG;
    require_once($CFG->dirroot . '/backup/util/includes/backup_includes.php');
    $dir = rtrim($dir, '/');
    if ($dir === '' || !file_exists($dir) || !is_dir($dir) || !is_writable($dir)) {
        throw new sessionarchiver_bridge_error('Destination directory does not exists or not writable.',
                                               'invaliddestination');
    }
    $course = sa_course($id);
    if (!$course) {
        throw new sessionarchiver_bridge_error("course $id does not exist", 'invalidcourseid');
    }
    $admin = get_admin();
    $bc = new backup_controller(backup::TYPE_1COURSE, $course->id, backup::FORMAT_MOODLE, backup::INTERACTIVE_YES,
                                backup::MODE_GENERAL, $admin->id);
    // destroy() even on failure: in a worker, an undestroyed controller and its plan stay in memory.
    try {
        $format = $bc->get_format();
        $type = $bc->get_type();
        $users = $bc->get_plan()->get_setting('users')->get_value();
        $anonymised = $bc->get_plan()->get_setting('anonymize')->get_value();
        $filename = backup_plan_dbops::get_default_backup_filename($format, $type, $bc->get_id(), $users, $anonymised);
        $bc->get_plan()->get_setting('filename')->set_value($filename);
        $bc->finish_ui();
        $bc->execute_plan();
        $results = $bc->get_results();
        $file = $results['backup_destination'];   // empty if Moodle moved it to its target already
        $path = $dir . '/' . $filename;
        if ($file) {
            error_clear_last();
            if (!$file->copy_content_to($path)) {
                // PHP's own reason ("... errno=28 No space left on device") tells a full disk apart
                $last = error_get_last();
                throw new sessionarchiver_bridge_error('Destination directory does not exist or is not writable. '
                    . 'Leaving the backup in the course backup file area.'
                    . ($last ? ' (' . $last['message'] . ')' : ''), 'cannotcopybackup');
            }
            $file->delete();
        }
    } finally {
        $bc->destroy();
    }
    clearstatcache(true, $path);
    return array('file' => $path, 'name' => $filename, 'size' => is_file($path) ? filesize($path) : 0);
}

/** One command, its options as strings: the answer, or an exception. */
function sa_command($command, array $opts) {
    global $CFG, $DB;
    switch ($command) {
        case 'version':
            return array('bridge' => 1, 'moodle_release' => (string)$CFG->release,
                         'moodle_version' => (string)$CFG->version);

        case 'ping':
            return array('pong' => getmypid());

        case 'create-category':
            $data = array('name' => sa_str($opts, 'name'), 'parent' => sa_int($opts, 'parent'));
            if ($data['parent']) {
                sa_category($data['parent']);   // our errorcode rather than Moodle's 'unknowncategory'
            }
            if (is_string($opts['idnumber']) && $opts['idnumber'] !== '') {
                $data['idnumber'] = $opts['idnumber'];
            }
            if (is_string($opts['description'])) {
                $data['description'] = $opts['description'];
            }
            $cat = core_course_category::create($data);
            return array('id' => (int)$cat->id, 'name' => $cat->name, 'idnumber' => $cat->idnumber,
                         'parent' => (int)$cat->parent, 'path' => $cat->path, 'depth' => (int)$cat->depth);

        case 'find-category':
            $name = sa_str($opts, 'name');
            $found = null;
            foreach (sa_category(sa_int($opts, 'parent'))->get_children() as $child) {
                if ((string)$child->name === $name && ($found === null || $child->id < $found)) {
                    $found = (int)$child->id;
                }
            }
            return array('id' => $found);

        case 'category-context':
            // Moodle makes a missing context here: a category a killed run inserted without one
            $id = sa_int($opts, 'id');
            sa_category($id);
            return array('id' => $id, 'contextid' => (int)context_coursecat::instance($id)->id);

        case 'delete-category':
            $id = sa_int($opts, 'id');
            if ($id == 0) {
                throw new sessionarchiver_bridge_error('category 0 does not exist', 'invalidcategoryid');
            }
            $cat = sa_category($id);
            // delete_full() would delete the courses inside too: a course never goes this way.
            if ($cat->has_children() || $cat->has_courses()) {
                throw new sessionarchiver_bridge_error("category $id is not empty", 'categorynotempty');
            }
            $cat->delete_full(false);
            return array('deleted' => $id);

        case 'delete-course':
            return sa_delete_course(sa_int($opts, 'id'));

        case 'restore':
            return sa_restore(sa_str($opts, 'file'), sa_int($opts, 'categoryid'));

        case 'backup':
            return sa_backup(sa_int($opts, 'id'), sa_str($opts, 'destination'));

        case 'hide-course':
            $id = sa_int($opts, 'id');
            if (!sa_course($id)) {
                throw new sessionarchiver_bridge_error("course $id does not exist", 'invalidcourseid');
            }
            require_once($CFG->dirroot . '/course/lib.php');
            course_change_visibility($id, false);
            return array('id' => $id, 'visible' => (int)sa_course($id)->visible);

        case 'find-course':
            $catid = sa_int($opts, 'category');
            $shortname = sa_str($opts, 'shortname');
            sa_category($catid);
            // Compared here, byte for byte: the database's collation ignores case and accents.
            $re = '/^' . preg_quote($shortname, '/') . '(_[0-9]+)?$/D';
            $courses = array();
            foreach ($DB->get_records_select('course', 'category = ?', array($catid), 'id',
                                             'id, shortname, fullname') as $c) {
                if (preg_match($re, $c->shortname)) {
                    $courses[] = array('id' => (int)$c->id, 'shortname' => $c->shortname, 'fullname' => $c->fullname);
                }
            }
            return array('courses' => $courses);

        default:
            throw new sessionarchiver_bridge_error("unknown command $command");
    }
}

/** What a caught exception says, as an answer. */
function sa_error_answer(Throwable $e) {
    $message = $e->getMessage();
    if (!empty($e->debuginfo) && is_string($e->debuginfo)) {
        $message .= ' (' . $e->debuginfo . ')';
    }
    $code = (isset($e->errorcode) && is_string($e->errorcode)) ? $e->errorcode : '';
    return array('error' => $message, 'errorcode' => $code);
}

/**
 * Between two requests of a worker, what a new CLI process would have fresh: the admin as the
 * user and an empty $SESSION (an operation may have changed either), no stale file status (a
 * backup checks the file it wrote), and PHP's cycle collector run (Moodle's controllers and
 * plans point at each other: their memory comes back only this way). Moodle's caches are
 * left alone: they follow the database, as in a long cron run.
 */
function sa_worker_reset() {
    global $SESSION;
    \core\session\manager::set_user(get_admin());
    $SESSION = new stdClass();
    clearstatcache();
    gc_collect_cycles();
}

/** The memory figures every worker answer carries, for the caller to recycle a worker past a size. */
function sa_worker_memory(array $answer) {
    $answer['peak_memory'] = memory_get_peak_usage(true);
    $answer['memory'] = memory_get_usage(true);
    return $answer;
}

/**
 * The worker: one request per line on stdin ({"command":"delete-course","id":12}), one answer per
 * line on file descriptor 3, until stdin ends. Moodle's own output stays on stdout and stderr.
 * Every answer, error or not, also carries "peak_memory" and "memory" (bytes, as PHP's
 * memory_get_peak_usage(true) and memory_get_usage(true) give them after the request). A
 * PHP fatal error (out of memory...) ends the process without an answer: PHP's message is on
 * its output, the exit status 255.
 */
function sa_worker(array $names) {
    global $saanswered;
    $answers = fopen('php://fd/3', 'w');
    if ($answers === false) {
        throw new sessionarchiver_bridge_error('worker: file descriptor 3 is not open for the answers');
    }
    $saanswered = true;   // from now on, answers go to fd 3
    while (($line = fgets(STDIN)) !== false) {
        $request = json_decode($line, true);
        try {
            if (!is_array($request) || !isset($request['command']) || !is_string($request['command'])) {
                throw new sessionarchiver_bridge_error('worker: a request is a JSON object with a "command"');
            }
            $opts = array_fill_keys($names, null);
            foreach ($request as $k => $v) {
                if ($k !== 'command' && array_key_exists($k, $opts) && is_scalar($v)) {
                    $opts[$k] = (string)$v;
                }
            }
            $answer = sa_command($request['command'], $opts);
        } catch (Throwable $e) {
            $answer = sa_error_answer($e);
        }
        try {
            sa_worker_reset();
        } catch (Throwable $e) {
            // The answer stands: whatever broke the reset, the next request meets it and says so.
        }
        $json = json_encode(sa_worker_memory($answer), JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE);
        fwrite($answers, ($json === false ? '{"error":"cannot encode the answer","errorcode":""}' : $json) . "\n");
        fflush($answers);
    }
    exit(0);
}

try {
    // --moodle is needed before Moodle (and cli_get_params) is loaded.
    $moodle = null;
    foreach (array_slice($_SERVER['argv'], 1) as $arg) {
        if ($arg === '--') {
            break;
        }
        if (strpos($arg, '--moodle=') === 0) {
            $moodle = substr($arg, 9);
        }
    }
    if ($moodle === null || $moodle === '' || !is_file($moodle . '/config.php')) {
        throw new sessionarchiver_bridge_error('--moodle=<Moodle directory holding config.php> is required');
    }

    define('CLI_SCRIPT', true);
    require($moodle . '/config.php');   // full setup: $CFG, $DB, the API
    require_once($CFG->libdir . '/clilib.php');

    $names = array('name', 'parent', 'idnumber', 'description', 'id', 'category', 'shortname', 'file',
                   'categoryid', 'destination');
    list($opts, $unrecognized) = cli_get_params(array_merge(array('moodle' => '', 'recyclebin' => 'yes',
        'session' => ''), array_fill_keys($names, null)));
    $commands = array();
    foreach ($unrecognized as $arg) {
        if ($arg === '' || $arg[0] === '-') {
            throw new sessionarchiver_bridge_error("unknown option $arg");
        }
        $commands[] = $arg;
    }
    if (count($commands) != 1) {
        throw new sessionarchiver_bridge_error('exactly one command is required: version, create-category, '
            . 'find-category, delete-category, delete-course, restore, backup, hide-course, find-course, worker');
    }
    if ($opts['recyclebin'] !== 'yes' && $opts['recyclebin'] !== 'no') {
        throw new sessionarchiver_bridge_error('--recyclebin=yes|no');
    }
    if ($opts['recyclebin'] === 'no') {
        // As delete_course.php --disablerecyclebin does: for this process only.
        $CFG->forced_plugin_settings = array_merge(
            isset($CFG->forced_plugin_settings) ? $CFG->forced_plugin_settings : array(),
            array('tool_recyclebin' => array('coursebinenable' => false, 'categorybinenable' => false)));
    }

    // Act as the admin, as admin/cli scripts do: sees hidden categories, owns the events.
    \core\session\manager::set_user(get_admin());

    if ($commands[0] === 'worker') {
        sa_worker($names);
    }
    sa_answer(sa_command($commands[0], $opts), 0);
} catch (Throwable $e) {
    sa_answer(sa_error_answer($e), 1);
}
