<?php
// sessionarchiver-bridge.php: the few Moodle operations sessionarchiver needs that Moodle has no
// admin/cli script for (course categories, hiding a course, finding a restored course).
//
// The C tool (tools/op_restore.c) runs it on the ARCHIVE Moodle, as Moodle's system user (through
// setpriv when configured), like the admin/cli scripts:
//
//     php sessionarchiver-bridge.php --moodle=/var/www/moodle COMMAND [--opt=value ...]
//
//   version                                        {"bridge":1,"moodle_release":"..","moodle_version":".."}
//   create-category --name=N --parent=ID [--idnumber=X] [--description=D]
//                                                  {"id","name","idnumber","parent","path","depth"}
//   find-category --parent=ID --name=N             {"id":N} (lowest id of the children named exactly N)
//                                                  or {"id":null}
//   delete-category --id=N                         {"deleted":N}   (only an empty category)
//   hide-course --id=N                             {"id":N,"visible":0}
//   find-course --category=ID --shortname=S        {"courses":[{"id","shortname","fullname"}...]}
//                                                  shortname S or S_<digits> (restore's renaming), by id
//
// Output: Moodle may print warnings or debugging on stdout before us, so the answer is the line
// right after the marker line "SESSIONARCHIVER-JSON:" (printed once, at the start of a line).
// Success: exit 0 and a JSON object without "error". Failure: exit status non-zero (1 for every
// error the bridge catches) and {"error":"<message>","errorcode":"<Moodle errorcode or ''>"}.
// Errorcodes of our own: invalidcategoryid (unknown category id), categorynotempty, invalidcourseid.
// Usage errors have errorcode ''. If Moodle exits during its setup (database down, CLI
// maintenance mode...), a shutdown function still prints the marker and an error object.
//
// Only Moodle's API writes (core_course_category::create/delete_full, course_change_visibility);
// plain $DB reads are used where Moodle has no reader. Works on Moodle 4.5 and on the test
// bench's fake site (tests/fakemoodle).

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

    list($opts, $unrecognized) = cli_get_params(array('moodle' => '', 'name' => null, 'parent' => null,
        'idnumber' => null, 'description' => null, 'id' => null, 'category' => null, 'shortname' => null));
    $commands = array();
    foreach ($unrecognized as $arg) {
        if ($arg === '' || $arg[0] === '-') {
            throw new sessionarchiver_bridge_error("unknown option $arg");
        }
        $commands[] = $arg;
    }
    if (count($commands) != 1) {
        throw new sessionarchiver_bridge_error('exactly one command is required: version, create-category, '
            . 'find-category, delete-category, hide-course, find-course');
    }

    // Act as the admin, as admin/cli scripts do: sees hidden categories, owns the events.
    \core\session\manager::set_user(get_admin());

    switch ($commands[0]) {
        case 'version':
            sa_answer(array('bridge' => 1, 'moodle_release' => (string)$CFG->release,
                            'moodle_version' => (string)$CFG->version), 0);

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
            sa_answer(array('id' => (int)$cat->id, 'name' => $cat->name, 'idnumber' => $cat->idnumber,
                            'parent' => (int)$cat->parent, 'path' => $cat->path, 'depth' => (int)$cat->depth), 0);

        case 'find-category':
            $name = sa_str($opts, 'name');
            $found = null;
            foreach (sa_category(sa_int($opts, 'parent'))->get_children() as $child) {
                if ((string)$child->name === $name && ($found === null || $child->id < $found)) {
                    $found = (int)$child->id;
                }
            }
            sa_answer(array('id' => $found), 0);

        case 'delete-category':
            $id = sa_int($opts, 'id');
            if ($id == 0) {
                throw new sessionarchiver_bridge_error('category 0 does not exist', 'invalidcategoryid');
            }
            $cat = sa_category($id);
            // delete_full() would delete the courses inside too: the archive never loses a course here.
            if ($cat->has_children() || $cat->has_courses()) {
                throw new sessionarchiver_bridge_error("category $id is not empty", 'categorynotempty');
            }
            $cat->delete_full(false);
            sa_answer(array('deleted' => $id), 0);

        case 'hide-course':
            $id = sa_int($opts, 'id');
            $course = $DB->get_record('course', array('id' => $id));
            if (!$course || $id == SITEID) {
                throw new sessionarchiver_bridge_error("course $id does not exist", 'invalidcourseid');
            }
            if (!function_exists('course_change_visibility')) {
                require_once($CFG->dirroot . '/course/lib.php');
            }
            course_change_visibility($id, false);
            $course = $DB->get_record('course', array('id' => $id));
            sa_answer(array('id' => $id, 'visible' => (int)$course->visible), 0);

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
            sa_answer(array('courses' => $courses), 0);

        default:
            throw new sessionarchiver_bridge_error("unknown command {$commands[0]}");
    }
} catch (Throwable $e) {
    $message = $e->getMessage();
    if (!empty($e->debuginfo) && is_string($e->debuginfo)) {
        $message .= ' (' . $e->debuginfo . ')';
    }
    $code = (isset($e->errorcode) && is_string($e->errorcode)) ? $e->errorcode : '';
    sa_answer(array('error' => $message, 'errorcode' => $code), 1);
}
