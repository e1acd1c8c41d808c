<?php
// fakemoodle: admin/cli/delete_course.php (Moodle 4.5.6 behaviour, see shared/MOODLE.md).
// This script is a copy of the test bench's fake; it is not Moodle.

define('CLI_SCRIPT', true);

require(__DIR__ . '/../../config.php');
require_once($CFG->libdir . '/backuplib.php');
require_once($CFG->libdir . '/restorelib.php');

list($options, $unrecognized) = cli_get_params(array(
    'courseid' => null,
    'disablerecyclebin' => false,
    'non-interactive' => false,
    'showdebugging' => false,
    'help' => false,
), array('h' => 'help'));

if ($unrecognized) {
    $unrecognized = implode("\n  ", $unrecognized);
    cli_error("Unrecognised options:\n  $unrecognized\nPlease use --help option.");
}

$help = <<<EOT
Delete course by course id.

Options:
 --courseid=INTEGER          Course id to be deleted.
 --disablerecyclebin         Skip backing up course to recycle bin even when enabled.
 --non-interactive           Do not prompt for confirmation.
 --showdebugging             Show developer level debugging information.
 -h, --help                  Print out this help.

Example:
\$ sudo -u www-data /usr/bin/php admin/cli/delete_course.php --courseid=123456
\$ sudo -u www-data /usr/bin/php admin/cli/delete_course.php --courseid=123456 --disablerecyclebin
\$ sudo -u www-data /usr/bin/php admin/cli/delete_course.php --courseid=123456 --non-interactive

EOT;

if ($options['help'] || empty($options['courseid']) || $options['courseid'] === true) {
    echo $help;
    exit(0);
}

$courseid = (int)$options['courseid'];
$course = ($courseid > 1) ? $DB->get_record('course', array('id' => $courseid)) : false;
if (!$course) {
    cli_error('Course not found');
}

if (!$options['non-interactive']) {
    $input = cli_input("Are you sure you want to delete course id $courseid ({$course->shortname})? (y/N)", 'N');
    if ($input === false) {
        cli_error('Aborted: no answer (end of input)');
    }
    if (strtolower($input) !== 'y') {
        cli_error('Aborted');
    }
}

$fault = fm_fault('delete', array($course->id));
fm_apply_generic_fault($fault);   // hang, slow:S, cpu:S, exit1

mtrace("Deleting course id $courseid");
mtrace("Course name: " . $course->fullname);
mtrace("Short name: " . $course->shortname);

if (!$options['disablerecyclebin']) {
    // tool_recyclebin: the course is backed up first (the fake keeps it in dataroot/recyclebin/).
    $dir = $CFG->dataroot . '/recyclebin';
    fm_mkdir($dir);
    $time = time();
    fm_write_backup($course, $dir . '/course-' . $course->id . '-' . $time . '.mbz',
                    fm_backup_filename($course, $time), $time);
    mtrace("++ Course backed up to the recycle bin ++");
}
if ($fault === 'die') {
    fm_die_now();
}
$strdeleted = 'Deleted - ';
foreach (array('Blocks', 'Activities', 'Question bank', 'Grades', 'Groups', 'Enrolment methods',
               'Course sections', 'Files', 'Contexts') as $what) {
    mtrace("++ $strdeleted$what ++");
}
fm_delete_course_data($course);
mtrace("Updating course count in categories...");
fm_update_coursecount($course->category);
mtrace("Done!");
exit(0);
