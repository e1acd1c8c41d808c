<?php
// fakemoodle: admin/cli/restore_backup.php (Moodle 4.5.6 behaviour, see shared/MOODLE.md).
// This script is a copy of the test bench's fake; it is not Moodle. It follows Moodle's script
// line by line: the work is done by the restore API (backup/util/includes/restore_includes.php).

define('CLI_SCRIPT', 1);

require(__DIR__ . '/../../config.php');
require_once($CFG->libdir . '/clilib.php');
require_once($CFG->dirroot . "/backup/util/includes/restore_includes.php");

list($options, $unrecognized) = cli_get_params(array(
    'file' => '',
    'categoryid' => '',
    'showdebugging' => false,
    'help' => false,
), array(
    'f' => 'file',
    'c' => 'categoryid',
    's' => 'showdebugging',
    'h' => 'help',
));

if ($unrecognized) {
    $unrecognized = implode("\n  ", $unrecognized);
    cli_error("Unrecognised options:\n  $unrecognized\nPlease use --help option.");
}

if ($options['help'] || !($options['file']) || !($options['categoryid'])) {
    $help = <<<EOL
Restore backup into provided category.

Options:
-f, --file=STRING           Path to the backup file.
-c, --categoryid=INT        ID of the category to restore too.
-s, --showdebugging         Show developer level debugging information
-h, --help                  Print out this help.

Example:
\$sudo -u www-data /usr/bin/php admin/cli/restore_backup.php --file=/path/to/backup/file.mbz --categoryid=1\n
EOL;

    echo $help;
    exit(0);
}

if (!$admin = get_admin()) {
    print_error('noadmins');
}

if (!file_exists($options['file'])) {
    print_error('filenotfound');
}

if (!$category = $DB->get_record('course_categories', array('id' => $options['categoryid']))) {
    print_error('invalidcategoryid');
}

$backupdir = fm_random_hex32();
$path = $CFG->tempdir . DIRECTORY_SEPARATOR . "backup" . DIRECTORY_SEPARATOR . $backupdir;

cli_heading(get_string('extractingbackupfileto', 'backup', $path));
$fp = get_file_packer('application/vnd.moodle.backup');
$extracted = $fp->extract_to_pathname($options['file'], $path);

cli_heading(get_string('preprocessingbackupfile'));
if ($extracted !== true) {
    // A broken archive fails before the try below: what could be read stays in temp/backup.
    if (!is_readable($path . '/moodle_backup.xml')) {
        throw new moodle_exception('missing_moodle_backup_xml_file', 'error',
                                   'Exception - error/missing_moodle_backup_xml_file');
    }
    throw new moodle_exception('corrupted_archive_structure', 'error',
                               'Exception - error/corrupted_archive_structure');
}
$courseid = 0;
try {
    list($fullname, $shortname) = restore_dbops::calculate_course_names(0, get_string('restoringcourse', 'backup'),
        get_string('restoringcourseshortname', 'backup'));

    $courseid = restore_dbops::create_new_course($fullname, $shortname, $category->id);

    $rc = new restore_controller($backupdir, $courseid, backup::INTERACTIVE_NO,
        backup::MODE_GENERAL, $admin->id, backup::TARGET_NEW_COURSE);
    $rc->execute_precheck();
    $rc->execute_plan();
    $rc->destroy();
} catch (Exception $e) {
    cli_heading(get_string('cleaningtempdata'));
    fulldelete($path);
    // No course is kept after a failed restore (MOODLE.md, seen on 4.5.6).
    fm_discard_new_course($courseid);
    print_error('generalexceptionmessage', 'error', '', $e->getMessage());
}

cli_heading(get_string('restoredcourseid', 'backup', $courseid));
exit(0);
