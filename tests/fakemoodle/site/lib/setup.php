<?php
// fakemoodle: stand-in for Moodle's lib/setup.php (sessionarchiver test bench).
// Like Moodle: with ABORT_AFTER_CONFIG defined, stop right after config.php's settings.

if (defined('ABORT_AFTER_CONFIG')) {
    return;
}

global $CFG, $DB;

if (!isset($CFG) || !is_object($CFG)) {
    fwrite(STDERR, "config.php was not loaded\n");
    exit(1);
}
$CFG->dirroot = dirname(__DIR__);
$CFG->libdir = $CFG->dirroot . '/lib';
if (empty($CFG->tempdir)) {
    $CFG->tempdir = $CFG->dataroot . '/temp';
}
if (empty($CFG->trashdir)) {
    $CFG->trashdir = $CFG->dataroot . '/trashdir';
}
if (empty($CFG->filedir)) {
    $CFG->filedir = $CFG->dataroot . '/filedir';
}
if (!defined('CLI_SCRIPT')) {
    define('CLI_SCRIPT', false);
}
if (!isset($CFG->forced_plugin_settings)) {
    $CFG->forced_plugin_settings = array();
}
umask(0);

require_once($CFG->libdir . '/clilib.php');
require_once($CFG->libdir . '/dml.php');
require_once($CFG->libdir . '/fakemoodle.php');
require_once($CFG->libdir . '/datalib.php');
require_once($CFG->libdir . '/moodlelib.php');
require_once($CFG->libdir . '/filelib.php');
// Not course/lib.php: Moodle's setup does not load it either (see moodlelib.php).

// Moodle's class loader makes core classes available on first use.
spl_autoload_register(function ($class) {
    global $CFG;
    $map = array('core_course_category' => 'coursecatlib.php', 'context_coursecat' => 'coursecatlib.php',
                 'core\\session\\manager' => 'sessionlib.php');
    $class = ltrim($class, '\\');
    if (isset($map[$class])) {
        require_once($CFG->libdir . '/' . $map[$class]);
    }
});

set_exception_handler('fm_default_exception_handler');

$DB = new fm_database($CFG);

// initialise_cfg(): settings from the config table (release, version...); config.php wins.
foreach ($DB->get_records_sql("SELECT name, value FROM {config}") as $fmrow) {
    if (!property_exists($CFG, $fmrow->name)) {
        $CFG->{$fmrow->name} = $fmrow->value;
    }
}
unset($fmrow);

// Nobody is logged in on the command line until a script calls \core\session\manager::set_user();
// the session is an empty object (\core\session\manager::init_empty_session()).
global $USER, $SESSION;
$USER = (object)array('id' => 0);
$SESSION = new stdClass();

// The test bench's bootstrap cost (FakeSite.set_costs()): Moodle's real setup takes ~0.4 s of
// CPU per process (MOODLE.md), the price a long-lived worker pays once.
fm_pay_cost('bootstrap_ms');
