<?php
// fakemoodle: admin/cli/backup.php (Moodle 4.5.6 behaviour, see shared/MOODLE.md).
// This script is a copy of the test bench's fake; it is not Moodle.

define('CLI_SCRIPT', 1);

require(__DIR__ . '/../../config.php');
require_once($CFG->libdir . '/backuplib.php');

list($options, $unrecognized) = cli_get_params(array(
    'courseid' => false,
    'courseshortname' => '',
    'destination' => '',
    'help' => false,
    ), array('h' => 'help'));

if ($unrecognized) {
    $unrecognized = implode("\n  ", $unrecognized);
    cli_error("Unrecognised options:\n  $unrecognized\nPlease use --help option.");
}

if ($options['help'] || !($options['courseid'] || $options['courseshortname'])) {
    $help = <<<EOL
Perform backup of the given course.

Options:
--courseid=INTEGER          Course ID for backup.
--courseshortname=STRING    Course shortname for backup.
--destination=STRING        Path where to store backup file. If not set the backup
                            will be stored within the course backup file area.
-h, --help                  Print out this help.

Example:
\$sudo -u www-data /usr/bin/php admin/cli/backup.php --courseid=2 --destination=/moodle/backup/\n
EOL;

    echo $help;
    die;
}

// Do we need to store backup somewhere else?
$dir = rtrim((string)$options['destination'], '/');
if (!empty($dir)) {
    if (!file_exists($dir) || !is_dir($dir) || !is_writable($dir)) {
        mtrace("Destination directory does not exists or not writable.");
        die;
    }
}

// Check that the course exists (MUST_EXIST).
if ($options['courseid']) {
    $course = $DB->get_record('course', array('id' => $options['courseid']));
} else {
    $course = $DB->get_record('course', array('shortname' => $options['courseshortname']));
}
if (!$course) {
    throw new moodle_exception('invalidrecord', 'error', "Can't find data record in database table course.");
}

cli_heading('Performing backup...');

$fault = fm_fault('backup', array($course->id));
if ($fault === 'exit1') {
    echo "!!! Error writing to backup file !!!\n";   // injected failure
    exit(1);
}
if ($fault === 'enospc') {
    // Moodle's temp folder (dataroot/temp/backup) full: PHP's own warning, then Moodle's error
    echo "PHP Warning:  fwrite(): Write of 8192 bytes failed with errno=28 No space left on device"
        . " in {$CFG->dirroot}/backup/util/xml/output/file_xml_output.class.php on line 74\n";
    echo "!!! Error writing to backup file !!!\n";
    exit(1);
}
fm_apply_generic_fault($fault);   // hang, slow:S, cpu:S

$time = time();
$filename = fm_backup_filename($course, $time);
$coursectx = fm_context(FM_CONTEXT_COURSE, $course->id);

// Moodle creates the file in the course backup area first: the '.' row of that area stays.
fm_add_dir_records($coursectx->id, 'backup', 'course', 0, '/', $time);

if ($fault === 'nofile') {
    if (!empty($dir)) {
        mtrace("Writing " . $dir . '/' . $filename);
        mtrace("Backup completed.");
    } else {
        mtrace("Backup completed, the new file is listed in the backup area of the given course");
    }
    exit(0);
}

if (!empty($dir)) {
    mtrace("Writing " . $dir . '/' . $filename);
    $target = $dir . '/' . $filename;
    if (strlen($filename) > 255) {
        // copy_content_to() fails: the backup stays in the course backup area.
        $tmp = $CFG->tempdir . '/backup/' . fm_random_hex32() . '.mbz';
        fm_mkdir(dirname($tmp));
        fm_write_backup($course, $tmp, $filename, $time);
        list($hash, $size) = fm_store_file_from_path($tmp, true);
        fm_add_file_record($coursectx->id, 'backup', 'course', 0, '/', substr($filename, 0, 255), $hash, $size,
                           'application/vnd.moodle.backup', $time);
        mtrace("Destination directory does not exist or is not writable. Leaving the backup in the course backup file area.");
        exit(0);
    }
    fm_write_backup($course, $target, $filename, $time, $fault === 'die' ? 0.5 : null);
    // The stored copy is deleted: its content goes to the trash directory until cron runs.
    $hash = sha1_file($target);
    $trash = $CFG->trashdir . '/' . substr($hash, 0, 2) . '/' . substr($hash, 2, 2) . '/' . $hash;
    if (!file_exists($trash) && fm_mkdir(dirname($trash))) {
        if (!@link($target, $trash)) {
            @copy($target, $trash);
        }
    }
    mtrace("Backup completed.");
} else {
    $tmp = $CFG->tempdir . '/backup/' . fm_random_hex32() . '.mbz';
    fm_mkdir(dirname($tmp));
    fm_write_backup($course, $tmp, $filename, $time, $fault === 'die' ? 0.5 : null);
    list($hash, $size) = fm_store_file_from_path($tmp, true);
    fm_add_file_record($coursectx->id, 'backup', 'course', 0, '/', $filename, $hash, $size,
                       'application/vnd.moodle.backup', $time);
    mtrace("Backup completed, the new file is listed in the backup area of the given course");
}
exit(0);
