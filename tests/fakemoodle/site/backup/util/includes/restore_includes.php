<?php
// fakemoodle: the restore API of Moodle's backup/util/includes/restore_includes.php, as far as
// admin/cli/restore_backup.php and sessionarchiver's bridge use it: restore_controller (built
// from a folder extracted into <tempdir>/backup/, executed in one go), restore_dbops'
// course-name and new-course helpers, the exceptions (the backup constants: backup/backup.class.php).
//
// As in Moodle, the controller's course settings (course_fullname, course_shortname) default
// to moodle_backup.xml's original_course_fullname / original_course_shortname and are PARAM_TEXT
// settings: a value that clean_param(PARAM_TEXT) would change (a fullname holding a tag) makes
// the constructor throw base_setting_exception('setting_invalid_text'), so such a backup cannot
// be restored as it is. The restored course takes its names from those settings.

require_once($CFG->dirroot . '/backup/backup.class.php');
require_once($CFG->libdir . '/restorelib.php');

class restore_controller_exception extends backup_exception {
}

class restore_dbops {
    public static function calculate_course_names($courseid, $fullname, $shortname) {
        return fm_calculate_course_names($courseid, $fullname, $shortname);
    }

    public static function create_new_course($fullname, $shortname, $categoryid) {
        return fm_create_new_course($fullname, $shortname, $categoryid);
    }
}

/** A text setting of the restore plan (backup/util/settings/base_setting.class.php). */
class fm_restore_text_setting {
    private $name;
    private $value;

    public function __construct($name, $value) {
        $this->name = $name;
        $this->value = $this->validate($value);
    }

    private function validate($value) {
        if ($value !== null && clean_param($value, PARAM_TEXT) !== (string)$value) {
            throw new base_setting_exception('setting_invalid_text', $value);
        }
        return $value;
    }

    public function get_name() {
        return $this->name;
    }

    public function get_value() {
        return $this->value;
    }

    public function set_value($value) {
        $this->value = $this->validate($value);
    }
}

class restore_controller {
    protected $tempdir;
    protected $path;
    protected $courseid;
    protected $info;
    protected $settings = array();
    protected $fault;

    public function __construct($tempdir, $courseid, $interactive, $mode, $userid, $target) {
        global $CFG;
        $this->tempdir = $tempdir;
        $this->courseid = $courseid;
        $this->path = $CFG->tempdir . '/backup/' . $tempdir;
        $this->info = fm_read_backup_dir($this->path);

        // Fake faults, keyed by the backup's original course id.
        $this->fault = fm_fault('restore', array($this->info->original_course_id, '*'));
        if ($this->fault === 'exception') {
            throw new base_setting_exception('setting_invalid_text');
        }
        fm_apply_generic_fault($this->fault);   // hang, slow:S, cpu:S, exit1, fatal, memory:MB

        // restore_course_task::define_settings()
        $this->settings['course_fullname'] = new fm_restore_text_setting('course_fullname',
            $this->info->original_course_fullname);
        $this->settings['course_shortname'] = new fm_restore_text_setting('course_shortname',
            $this->info->original_course_shortname);
    }

    public function get_info() {
        return $this->info;
    }

    public function get_courseid() {
        return $this->courseid;
    }

    /** The plan is the controller itself here: get_plan()->get_setting($name). */
    public function get_plan() {
        return $this;
    }

    public function get_setting($name) {
        if (!isset($this->settings[$name])) {
            throw new base_setting_exception('setting_by_name_not_found', $name);
        }
        return $this->settings[$name];
    }

    public function execute_precheck($droptemptablesafter = false) {
        return true;
    }

    public function execute_plan() {
        fm_pay_cost('work_ms');
        if ($this->fault === 'die-placeholder') {
            fm_die_now();   // the new course exists, still empty
        }
        fm_restore_into($this->courseid, $this->path, $this->info,
                        $this->settings['course_fullname']->get_value(),
                        $this->settings['course_shortname']->get_value());
        if ($this->fault === 'die-after-restore') {
            fm_die_now();   // the course is complete, nobody was told
        }
        // The plan's last step (restore_drop_and_clean_temp_stuff) removes the extracted folder.
        fulldelete($this->path);
    }

    public function destroy() {
    }
}
