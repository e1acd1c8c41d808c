<?php
// fakemoodle: Moodle's REST web-service entry point (webservice/rest/server.php), for sessionarchiver's tests:
//     php -S 127.0.0.1:PORT -t <site_dir>
//     POST /webservice/rest/server.php  wstoken=...&wsfunction=...&moodlewsrestformat=json&...
// Errors come as HTTP 200 with {"exception", "errorcode", "message"}, as in Moodle. See lib/externallib.php.

define('NO_DEBUG_DISPLAY', true);
define('WS_SERVER', true);

require(__DIR__ . '/../../config.php');
require_once($CFG->libdir . '/externallib.php');

fm_ws_rest_serve();
