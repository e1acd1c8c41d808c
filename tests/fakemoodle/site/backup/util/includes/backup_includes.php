<?php
// fakemoodle: the backup API of Moodle's backup/util/includes/backup_includes.php, as far as
// admin/cli/backup.php and sessionarchiver's bridge use it: backup_controller (a one-course
// backup, executed in one go), its plan's settings, backup_plan_dbops' default file name, and
// the stored file the backup ends in (lib/filestorage/stored_file.php).
//
// As in Moodle, execute_plan() writes the .mbz into the course's backup file area (the file
// pool and a `files` row, component backup, filearea course); the caller copies it out with
// copy_content_to() and deletes it, its content then going to the trash directory until cron
// runs. Both callers go through here, so the backup faults (fakemoodle-faults.json, op
// "backup") and the work cost (FakeSite.set_costs()) meet them alike:
//
//   exit1    the plan throws "Error writing to backup file" (backup.php: "!!! ... !!!", exit 1)
//   enospc   PHP's "No space left on device" warning on stdout, then the same exception
//   nofile   no file is made, yet copy_content_to() says it copied (Moodle's output unchanged)
//   die      copy_content_to() copies half the file, then the process is killed (SIGKILL)
//   hang, slow:S, cpu:S, fatal, memory:MB   see fm_apply_generic_fault()

require_once($CFG->dirroot . '/backup/backup.class.php');
require_once($CFG->libdir . '/backuplib.php');

class backup_controller_exception extends backup_exception {
}

/** A setting of the backup plan (backup/util/settings/base_setting.class.php). */
class fm_backup_setting {
    private $name;
    private $value;

    public function __construct($name, $value) {
        $this->name = $name;
        $this->value = $value;
    }

    public function get_name() {
        return $this->name;
    }

    public function get_value() {
        return $this->value;
    }

    public function set_value($value) {
        $this->value = $value;
    }
}

/** The backup plan: here only its root settings. */
class fm_backup_plan {
    private $settings = array();

    public function __construct(array $values) {
        foreach ($values as $name => $value) {
            $this->settings[$name] = new fm_backup_setting($name, $value);
        }
    }

    public function get_setting($name) {
        if (!isset($this->settings[$name])) {
            throw new base_setting_exception('setting_by_name_not_found', $name);
        }
        return $this->settings[$name];
    }
}

class backup_plan_dbops {
    /** The file name Moodle gives a backup (MOODLE.md): see fm_default_backup_filename(). */
    public static function get_default_backup_filename($format, $type, $id, $users, $anonymised,
                                                       $useidonly = false, $files = true, $time = null) {
        global $DB;
        if ($type !== backup::TYPE_1COURSE) {
            throw new backup_controller_exception('backup_type_not_supported_by_the_fake', $type);
        }
        $course = $DB->get_record('course', array('id' => $id), 'id, shortname', MUST_EXIST);
        if ($useidonly) {
            $course->shortname = '';
        }
        return fm_default_backup_filename($format, $type, $course, $users, $anonymised, $files,
                                          $time === null ? time() : $time);
    }
}

/**
 * A file of the file pool, known by its `files` row. A null row is the fault "nofile": a file
 * Moodle believes it wrote, whose copy gives nothing.
 */
class fm_stored_file {
    private $record;
    private $diefraction;

    public function __construct($record, $diefraction = null) {
        $this->record = $record;
        $this->diefraction = $diefraction;
    }

    public function get_filename() {
        return $this->record ? $this->record->filename : '';
    }

    public function get_filesize() {
        return $this->record ? (int)$this->record->filesize : 0;
    }

    public function get_contenthash() {
        return $this->record ? $this->record->contenthash : sha1('');
    }

    /** Copies the content to $pathname: true, or false when it cannot be written there. */
    public function copy_content_to($pathname) {
        if (!$this->record) {
            return true;
        }
        $source = fm_filedir_path($this->record->contenthash);
        if ($this->diefraction !== null) {
            $in = fopen($source, 'rb');
            $out = @fopen($pathname, 'wb');
            if ($in && $out) {
                fwrite($out, fread($in, max(1, (int)(filesize($source) * $this->diefraction))));
                fflush($out);
            }
            fm_die_now();
        }
        // A second name for the content rather than a copy: the same bytes, faster.
        return @link($source, $pathname) || @copy($source, $pathname);
    }

    /** Removes the file: its content goes to the trash directory unless another file has it. */
    public function delete() {
        global $CFG, $DB;
        if (!$this->record) {
            return true;
        }
        $hash = $this->record->contenthash;
        $DB->execute("DELETE FROM {files} WHERE id = ?", array($this->record->id));
        if (!$DB->record_exists_sql("SELECT id FROM {files} WHERE contenthash = ?", array($hash))) {
            $pool = fm_filedir_path($hash);
            $trash = $CFG->trashdir . '/' . substr($hash, 0, 2) . '/' . substr($hash, 2, 2) . '/' . $hash;
            if (file_exists($trash) || !fm_mkdir(dirname($trash)) || !@rename($pool, $trash)) {
                @unlink($pool);
            }
        }
        $this->record = null;
        return true;
    }
}

class backup_controller {
    protected $type;
    protected $id;
    protected $format;
    protected $interactive;
    protected $mode;
    protected $userid;
    protected $course;
    protected $plan;
    protected $results = array();
    protected $backupid;

    public function __construct($type, $id, $format, $interactive, $mode, $userid) {
        global $DB;
        if ($type !== backup::TYPE_1COURSE) {
            throw new backup_controller_exception('backup_type_not_supported_by_the_fake', $type);
        }
        $this->type = $type;
        $this->id = $id;
        $this->format = $format;
        $this->interactive = $interactive;
        $this->mode = $mode;
        $this->userid = $userid;
        $this->backupid = fm_random_hex32();
        $this->course = $DB->get_record('course', array('id' => $id), '*', MUST_EXIST);
        // backup_course_task's root settings, at their defaults for an admin's general backup.
        $this->plan = new fm_backup_plan(array('filename' => 'backup.mbz', 'users' => 1, 'anonymize' => 0,
                                               'files' => 1));
    }

    public function get_type() {
        return $this->type;
    }

    public function get_id() {
        return $this->id;
    }

    public function get_format() {
        return $this->format;
    }

    public function get_backupid() {
        return $this->backupid;
    }

    public function get_plan() {
        return $this->plan;
    }

    public function finish_ui() {
    }

    public function execute_plan() {
        global $CFG, $DB;
        $fault = fm_fault('backup', array($this->id));
        if ($fault === 'enospc') {
            // Moodle's temp folder (dataroot/temp/backup) full: PHP's own warning, then Moodle's error.
            echo "PHP Warning:  fwrite(): Write of 8192 bytes failed with errno=28 No space left on device"
                . " in {$CFG->dirroot}/backup/util/xml/output/file_xml_output.class.php on line 74\n";
        }
        if ($fault === 'exit1' || $fault === 'enospc') {
            throw new moodle_exception('errorwritingbackupfile', 'error', 'Error writing to backup file');
        }
        fm_apply_generic_fault($fault);
        fm_pay_cost('work_ms');

        $time = time();
        $filename = $this->plan->get_setting('filename')->get_value();
        $coursectx = fm_context(FM_CONTEXT_COURSE, $this->course->id);
        // The course backup area's '.' row stays after the file is deleted.
        fm_add_dir_records($coursectx->id, 'backup', 'course', 0, '/', $time);
        if ($fault === 'nofile') {
            $this->results = array('backup_destination' => new fm_stored_file(null));
            return;
        }
        $tmp = $CFG->tempdir . '/backup/' . $this->backupid . '.mbz';
        fm_mkdir(dirname($tmp));
        try {
            fm_write_backup($this->course, $tmp, $filename, $time);
        } catch (Throwable $e) {
            @unlink($tmp);
            throw $e;
        }
        list($hash, $size) = fm_store_file_from_path($tmp, true);
        // The files table holds 255 characters of a name (a longer one cannot be copied out).
        $storedname = substr($filename, 0, 255);
        $pnh = fm_pathnamehash($coursectx->id, 'backup', 'course', 0, '/', $storedname);
        $DB->execute("DELETE FROM {files} WHERE pathnamehash = ?", array($pnh));   // a same-named older one
        fm_add_file_record($coursectx->id, 'backup', 'course', 0, '/', $storedname, $hash, $size,
                           'application/vnd.moodle.backup', $time);
        $record = $DB->get_record('files', array('pathnamehash' => $pnh), '*', MUST_EXIST);
        $this->results = array('backup_destination' => new fm_stored_file($record, $fault === 'die' ? 0.5 : null));
    }

    public function get_status() {
        return backup::STATUS_FINISHED_OK;
    }

    public function get_results() {
        return $this->results;
    }

    /** Moodle's controller and plan point at each other: destroy() lets PHP free them. */
    public function destroy() {
        $this->plan = null;
        $this->results = array();
    }
}
