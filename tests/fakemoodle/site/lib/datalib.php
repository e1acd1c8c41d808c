<?php
// fakemoodle: lib/datalib.php (loaded by setup.php, as in Moodle): get_admin().

if (!defined('MUST_EXIST')) {
    define('IGNORE_MISSING', 0);   // lib/dmllib.php
    define('IGNORE_MULTIPLE', 1);
    define('MUST_EXIST', 2);
}
if (!defined('SITEID')) {
    define('SITEID', 1);
}

/** The main admin (there is no user table here: a fixed record). */
function get_admin() {
    return (object)array('id' => 2, 'username' => 'admin', 'auth' => 'manual', 'deleted' => 0);
}
