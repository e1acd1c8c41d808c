<?php
// fakemoodle: \core\session\manager (Moodle: lib/classes/session/manager.php), autoloaded by
// setup.php. Only set_user(), which CLI scripts use to act as the admin.

namespace core\session;

class manager {
    public static function set_user(\stdClass $user) {
        $GLOBALS['USER'] = $user;
    }
}
