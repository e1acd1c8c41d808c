<?php
// fakemoodle: backup/backup.class.php. In Moodle this file holds the backup class and its
// constants, shared by the backup and the restore API; backup_includes.php and
// restore_includes.php both require it, so one process may load both.

abstract class backup {
    const TYPE_1ACTIVITY = 'activity';
    const TYPE_1SECTION = 'section';
    const TYPE_1COURSE = 'course';
    const FORMAT_MOODLE = 'moodle2';
    const INTERACTIVE_YES = true;
    const INTERACTIVE_NO = false;
    const MODE_GENERAL = 10;
    const TARGET_NEW_COURSE = 2;
    const STATUS_FINISHED_OK = 1000;
}

class backup_exception extends moodle_exception {
    public function __construct($errorcode, $a = null, $debuginfo = null) {
        // No such string in the language pack: Moodle's message is then "error/<errorcode>".
        parent::__construct($errorcode, 'error', 'error/' . $errorcode);
    }
}

class base_setting_exception extends backup_exception {
}
