<?php
// fakemoodle: admin/cli/delete_course.php (Moodle 4.5.6 behaviour, see shared/MOODLE.md).
// This script is a copy of the test bench's fake; it is not Moodle. Like Moodle 4.5.6's, it
// requires lib/clilib.php but not course/lib.php: with --disablerecyclebin nothing loads it and
// delete_course() dies half way (lib/moodlelib.php says how).

define('CLI_SCRIPT', true);

require(__DIR__ . '/../../config.php');
require_once($CFG->libdir . '/clilib.php');

list($options, $unrecognized) = cli_get_params(
    array(
        'courseid' => false,
        'help' => false,
        'showsql' => false,
        'showdebugging' => false,
        'disablerecyclebin' => false,
        'non-interactive' => false,
    ), array(
        'c' => 'courseid',
        'h' => 'help',
    )
);

if ($unrecognized) {
    $unrecognized = implode("\n  ", $unrecognized);
    cli_error("Unrecognised options:\n  $unrecognized\nPlease use --help option.");
}

if ($options['help'] || empty($options['courseid'])) {
    $help = <<<EOT
CLI script to delete a course.

Options:
 -h, --help                Print out this help
     --showsql             Show sql queries before they are executed
     --showdebugging       Show developer level debugging information
     --disablerecyclebin   Skip backing up the course
     --non-interactive     No interactive questions or confirmations
 -c, --courseid            Course id to be deleted

Example:
\$sudo -u www-data /usr/bin/php admin/cli/delete_course.php --courseid=123456
\$sudo -u www-data /usr/bin/php admin/cli/delete_course.php --courseid=123456 --showdebugging
\$sudo -u www-data /usr/bin/php admin/cli/delete_course.php --courseid=123456 --disablerecyclebin

EOT;

    echo $help;
    die;
}

$interactive = empty($options['non-interactive']);

$course = $DB->get_record('course', array('id' => $options['courseid']));
if (empty($course)) {
    cli_error('Course not found');
}

mtrace('Deleting course id ' . $course->id);
mtrace('Course name: ' . $course->fullname);
mtrace('Short name: ' . $course->shortname);

if ($interactive) {
    mtrace('');
    $input = cli_input('Are you sure you wish to delete this course? (y/N)', 'N', array('y', 'Y', 'n', 'N'));
    if (strtolower($input) != 'y') {
        exit(0);
    }
}

if ($options['disablerecyclebin']) {
    mtrace('Disabling recycle bin...');
    $overrideconfig = array('tool_recyclebin' => array('coursebinenable' => false, 'categorybinenable' => false));
    $CFG->forced_plugin_settings = array_merge($CFG->forced_plugin_settings, $overrideconfig);
}

delete_course($course);

mtrace('Updating course count in categories...');
fix_course_sortorder();

mtrace('Done!');
