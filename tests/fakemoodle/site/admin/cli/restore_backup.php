<?php
// fakemoodle: admin/cli/restore_backup.php (Moodle 4.5.6 behaviour, see shared/MOODLE.md).
// This script is a copy of the test bench's fake; it is not Moodle.

define('CLI_SCRIPT', 1);

require(__DIR__ . '/../../config.php');
require_once($CFG->libdir . '/restorelib.php');

list($options, $unrecognized) = cli_get_params(array(
    'file' => '',
    'categoryid' => '',
    'courseid' => '',
    'showdebugging' => false,
    'help' => false,
), array(
    'f' => 'file',
    'c' => 'categoryid',
    'C' => 'courseid',
    's' => 'showdebugging',
    'h' => 'help',
));

if ($unrecognized) {
    $unrecognized = implode("\n  ", $unrecognized);
    cli_error("Unrecognised options:\n  $unrecognized\nPlease use --help option.");
}

if ($options['help'] || !($options['file']) || !($options['categoryid'] || $options['courseid'])) {
    $help = <<<EOL
Restore backup into provided category or course.
If courseid is set, course module/s will be added into the course.

Options:
-f, --file=STRING           Path to the backup file.
-c, --categoryid=INT        ID of the course category to restore to. This option is ignored when restoring an activity and courseid is set.
-C, --courseid=INT          ID of the course to restore to. This option is ignored when restoring a course and the categoryid is set.
-s, --showdebugging         Show developer level debugging information
-h, --help                  Print out this help.

Example:
\$sudo -u www-data /usr/bin/php admin/cli/restore_backup.php --file=/path/to/backup/coursebackup.mbz --categoryid=1\n
\$sudo -u www-data /usr/bin/php admin/cli/restore_backup.php --file=/path/to/backup/activitybackup.mbz --courseid=1\n
EOL;

    echo $help;
    exit(0);
}

if (!file_exists($options['file'])) {
    throw new moodle_exception('filenotfound', 'error', 'File not found');
}
if (!$options['categoryid']) {
    throw new moodle_exception('invalidcategoryid', 'error', 'Category ID was incorrect');
}
$category = $DB->get_record('course_categories', array('id' => $options['categoryid']));
if (!$category) {
    throw new moodle_exception('invalidcategoryid', 'error', 'Category ID was incorrect');
}

$backupdir = fm_random_hex32();
$path = $CFG->tempdir . DIRECTORY_SEPARATOR . 'backup' . DIRECTORY_SEPARATOR . $backupdir;

cli_heading('Extracting backup file to: ' . $path);
$extracted = fm_extract_tgz($options['file'], $path);

cli_heading('Preprocessing backup file');
if ($extracted !== true) {
    // What could be read stays in temp/backup, as in Moodle.
    if (!is_readable($path . '/moodle_backup.xml')) {
        throw new moodle_exception('missing_moodle_backup_xml_file', 'error',
                                   'Exception - error/missing_moodle_backup_xml_file');
    }
    throw new moodle_exception('corrupted_archive_structure', 'error',
                               'Exception - error/corrupted_archive_structure');
}
$info = fm_read_backup_dir($path);
$fault = fm_fault('restore', array($info->original_course_id, '*'));
if ($fault === 'exception') {
    echo "!!! Exception - error/setting_invalid_text !!!\n";   // injected
    exit(1);
}
fm_apply_generic_fault($fault);   // hang, slow:S, cpu:S, exit1
fm_check_param_text($info->course->fullname);
fm_check_param_text($info->course->shortname);

list($fullname, $shortname) = fm_calculate_course_names(0, 'Course restoration in progress', 'restoring');
$courseid = fm_create_new_course($fullname, $shortname, $category->id);
if ($fault === 'die-placeholder') {
    fm_die_now();
}
try {
    fm_restore_into($courseid, $path, $info);
} catch (Throwable $e) {
    $c = $DB->get_record('course', array('id' => $courseid));
    if ($c) {
        fm_delete_course_data($c);
    }
    throw $e;
}
if ($fault === 'die-after-restore') {
    fm_die_now();
}
fm_rrmdir($path);

cli_heading('Restored course ID: ' . $courseid);
exit(0);
