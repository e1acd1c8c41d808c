<?php
// fakemoodle: the web-service side of Moodle 4.5.6 (lib/externallib.php, webservice/lib.php,
// webservice/rest/locallib.php and the course/externallib.php functions sessionarchiver calls), for
// webservice/rest/server.php (sessionarchiver test bench).
//
// Tokens live in {external_tokens} (Moodle's table, created by FakeSite.create_ws_token()); a token's
// service ({external_services}) allows the functions listed in {external_services_functions}. The
// token's user is treated as a site administrator: every category, course, section and module shows.
// Output shapes follow course/externallib.php; names go through external_format_string() as Moodle's
// format_string() does with formatstringstriptags on (tags stripped, '&' not starting an entity
// becomes '&amp;', '<' and '>' become '&lt;' and '&gt;').

define('FM_EXTERNAL_TOKEN_PERMANENT', 0);

/** Moodle's external exceptions: class name, errorcode, message (lang/en/*.php). */
class fm_ws_exception extends Exception {
    public $class;
    public $errorcode;
    public $debuginfo;
    public function __construct($class, $errorcode, $message, $debuginfo = null) {
        parent::__construct($message);
        $this->class = $class;
        $this->errorcode = $errorcode;
        $this->debuginfo = $debuginfo;
    }
}

function fm_ws_invalid_parameter($debuginfo) {
    return new fm_ws_exception('invalid_parameter_exception', 'invalidparameter',
                               'Invalid parameter value detected', $debuginfo);
}

function fm_ws_missing_record($table) {
    return new fm_ws_exception('dml_missing_record_exception', 'invalidrecord',
                               "Can't find data record in database table $table.");
}

/** core_external\util::format_string() with Moodle's defaults. */
function external_format_string($s) {
    $s = (string)$s;
    $s = preg_replace('/&(?![a-zA-Z0-9#]{1,8};)/', '&amp;', $s);
    return str_replace(array('<', '>'), array('&lt;', '&gt;'), strip_tags($s));
}

/** The functions this fake implements: name => callable(array $params). */
function fm_ws_functions() {
    return array(
        'core_webservice_get_site_info' => 'fm_ws_get_site_info',
        'core_course_get_categories' => 'fm_ws_get_categories',
        'core_course_get_courses_by_field' => 'fm_ws_get_courses_by_field',
        'core_course_get_contents' => 'fm_ws_get_contents',
    );
}

/** webservice::authenticate_user() for a permanent token: the token record. */
function fm_ws_authenticate($token) {
    global $DB;
    if (!is_string($token) || $token === '' || !$DB->table_exists('external_tokens')) {
        throw new fm_ws_exception('moodle_exception', 'invalidtoken', 'Invalid token - token not found');
    }
    $t = $DB->get_record('external_tokens', array('token' => $token, 'tokentype' => FM_EXTERNAL_TOKEN_PERMANENT));
    if (!$t) {
        throw new fm_ws_exception('moodle_exception', 'invalidtoken', 'Invalid token - token not found');
    }
    if (!empty($t->validuntil) && $t->validuntil < time()) {
        throw new fm_ws_exception('moodle_exception', 'invalidtimedtoken', 'Invalid time limited token');
    }
    $DB->execute("UPDATE {external_tokens} SET lastaccess = ? WHERE id = ?", array(time(), $t->id));
    return $t;
}

/** The function names the token's service allows. */
function fm_ws_allowed($token) {
    global $DB;
    $out = array();
    foreach ($DB->get_records('external_services_functions', array('externalserviceid' => $token->externalserviceid))
             as $f) {
        $out[] = $f->functionname;
    }
    return $out;
}

/** Scalar parameter: PARAM_INT when $int, else PARAM_RAW. */
function fm_ws_param(array $params, $name, $default = null, $int = false) {
    if (!array_key_exists($name, $params)) {
        if ($default === null) {
            throw fm_ws_invalid_parameter("$name => Invalid parameter value detected (Missing required key in single"
                                          . " structure: $name)");
        }
        return $default;
    }
    $v = $params[$name];
    if (is_array($v)) {
        throw fm_ws_invalid_parameter("$name => Invalid parameter value detected (Scalar type expected, array or object"
                                      . " received.)");
    }
    if ($int) {
        if (!preg_match('/^-?[0-9]+$/', (string)$v)) {
            throw fm_ws_invalid_parameter("$name => Invalid parameter value detected (Invalid external api parameter:"
                                          . " the value is \"$v\", the server was expecting \"int\" type)");
        }
        return (int)$v;
    }
    return (string)$v;
}

/** Runs one request; returns the value to print as JSON. Throws fm_ws_exception. */
function fm_ws_dispatch(array $request) {
    $token = fm_ws_authenticate(isset($request['wstoken']) ? $request['wstoken'] : '');
    $fn = isset($request['wsfunction']) ? (string)$request['wsfunction'] : '';
    $all = fm_ws_functions();
    if (!isset($all[$fn])) {
        throw fm_ws_missing_record('external_functions');
    }
    if (!in_array($fn, fm_ws_allowed($token), true)) {
        throw new fm_ws_exception('webservice_access_exception', 'accessexception', 'Access control exception',
                                  "Access to the function $fn() is not allowed.");
    }
    unset($request['wstoken'], $request['wsfunction'], $request['moodlewsrestformat']);
    return call_user_func($all[$fn], $request, $token);
}

// ------------------------------------------------------------------ core_webservice_get_site_info
function fm_ws_get_site_info(array $params, $token) {
    global $CFG, $DB;
    $site = $DB->get_record('course', array('id' => 1));
    $functions = array();
    foreach (fm_ws_allowed($token) as $name) {
        $functions[] = array('name' => $name, 'version' => (string)$CFG->version);
    }
    return array(
        'sitename' => external_format_string($site ? $site->fullname : ''),
        'username' => 'admin',
        'firstname' => 'Admin',
        'lastname' => 'User',
        'fullname' => 'Admin User',
        'lang' => 'en',
        'userid' => (int)$token->userid,
        'siteurl' => $CFG->wwwroot,
        'userpictureurl' => $CFG->wwwroot . '/theme/image.php/boost/core/1/u/f1',
        'functions' => $functions,
        'downloadfiles' => 1,
        'uploadfiles' => 1,
        'release' => $CFG->release,
        'version' => (string)$CFG->version,
        'mobilecssurl' => '',
        'advancedfeatures' => array(array('name' => 'usecomments', 'value' => 1),
                                    array('name' => 'usetags', 'value' => 1)),
        'usercanmanageownfiles' => true,
        'userquota' => 104857600,
        'usermaxuploadfilesize' => 104857600,
        'userhomepage' => 1,
        'userprivateaccesskey' => md5('fakemoodle' . $token->id),
        'siteid' => 1,
        'sitecalendartype' => 'gregorian',
        'usercalendartype' => 'gregorian',
        'userissiteadmin' => true,
        'theme' => 'boost',
        'limitconcurrentlogins' => 0,
        'policyagreed' => 1,
    );
}

// ------------------------------------------------------------------ core_course_get_categories
function fm_ws_get_categories(array $params, $token) {
    global $DB;
    $criteria = isset($params['criteria']) ? $params['criteria'] : array();
    if (!is_array($criteria)) {
        throw fm_ws_invalid_parameter('criteria => Invalid parameter value detected (Only arrays accepted.)');
    }
    $addsub = (bool)fm_ws_param($params, 'addsubcategories', 1, true);
    $where = array();
    $args = array();
    $seen = array();
    foreach ($criteria as $crit) {
        if (!is_array($crit) || !isset($crit['key']) || !array_key_exists('value', $crit)) {
            throw fm_ws_invalid_parameter('criteria => Invalid parameter value detected (Missing required key in'
                                          . ' single structure: key)');
        }
        $key = trim($crit['key']);
        if (isset($seen[$key])) {
            continue;
        }
        $seen[$key] = true;
        switch ($key) {
            case 'id':
            case 'parent':
                $where[] = "$key = ?";
                $args[] = (int)$crit['value'];
                break;
            case 'ids':
                $ids = array_filter(array_map('intval', explode(',', (string)$crit['value'])));
                $ids = $ids ? $ids : array(0);
                $where[] = 'id IN (' . implode(',', array_fill(0, count($ids), '?')) . ')';
                $args = array_merge($args, array_values($ids));
                break;
            case 'name':
            case 'idnumber':
                $where[] = "$key = ?";
                $args[] = (string)$crit['value'];
                break;
            default:
                throw new fm_ws_exception('moodle_exception', 'criteriaerror',
                                          'Missing permissions to search on a criterion.',
                                          'You can not search on this criteria: ' . $key);
        }
    }
    if ($where) {
        $cats = $DB->get_records_sql('SELECT * FROM {course_categories} WHERE ' . implode(' AND ', $where), $args);
        if ($cats && $addsub) {
            $byid = array();
            foreach ($cats as $c) {
                $byid[$c->id] = $c;
            }
            foreach ($cats as $c) {
                foreach ($DB->get_records_sql('SELECT * FROM {course_categories} WHERE path LIKE ?', array($c->path . '/%'))
                         as $sub) {
                    $byid[$sub->id] = $sub;
                }
            }
            $cats = array_values($byid);
        }
    } else {
        $cats = $DB->get_records('course_categories');
    }
    usort($cats, function ($a, $b) {
        return strcmp($a->path, $b->path);
    });
    $out = array();
    foreach ($cats as $c) {
        $out[] = array(
            'id' => (int)$c->id,
            'name' => external_format_string($c->name),
            'idnumber' => $c->idnumber,
            'description' => (string)$c->description,
            'descriptionformat' => (int)$c->descriptionformat ? (int)$c->descriptionformat : 1,
            'parent' => (int)$c->parent,
            'sortorder' => (int)$c->sortorder,
            'coursecount' => (int)$c->coursecount,
            'visible' => (int)$c->visible,
            'visibleold' => (int)$c->visibleold,
            'timemodified' => (int)$c->timemodified,
            'depth' => (int)$c->depth,
            'path' => $c->path,
            'theme' => (string)$c->theme,
        );
    }
    usort($out, function ($a, $b) {
        return strcmp((string)$a['sortorder'], (string)$b['sortorder']);
    });
    return $out;
}

// ------------------------------------------------------------------ core_course_get_courses_by_field
function fm_ws_course_data($course) {
    global $DB;
    $cat = $course->category ? $DB->get_record('course_categories', array('id' => $course->category)) : null;
    $name = external_format_string($course->fullname);
    $d = array(
        'id' => (int)$course->id,
        'fullname' => $name,
        'displayname' => $name,
        'shortname' => external_format_string($course->shortname),
        'courseimage' => '',
        'categoryid' => (int)$course->category,
        'categoryname' => $cat ? external_format_string($cat->name) : '',
        'sortorder' => (int)$course->sortorder,
        'summary' => (string)$course->summary,
        'summaryformat' => 1,
        'summaryfiles' => array(),
        'overviewfiles' => array(),
        'showactivitydates' => (bool)$course->showactivitydates,
        'showcompletionconditions' => (bool)$course->showcompletionconditions,
        'contacts' => array(),
        'enrollmentmethods' => array('manual'),
        'customfields' => array(),
    );
    foreach (array('format', 'showgrades', 'newsitems', 'startdate', 'enddate', 'maxbytes', 'showreports',
                   'visible', 'groupmode', 'groupmodeforce', 'defaultgroupingid', 'enablecompletion',
                   'completionnotify', 'lang', 'theme', 'marker') as $f) {
        $d[$f] = $course->$f;
    }
    $d['filters'] = array();
    // Information for managers only (the token's user is one).
    foreach (array('idnumber', 'legacyfiles', 'calendartype', 'timecreated', 'timemodified', 'requested',
                   'cacherev') as $f) {
        $d[$f] = $course->$f;
    }
    foreach (array('format', 'lang', 'theme', 'idnumber', 'calendartype') as $f) {
        $d[$f] = (string)$d[$f];
    }
    foreach ($d as $k => $v) {
        if (is_string($v) && preg_match('/^-?[0-9]+$/', $v) && !in_array($k, array('idnumber', 'shortname',
                'fullname', 'displayname', 'categoryname', 'summary', 'lang', 'theme', 'format', 'calendartype'))) {
            $d[$k] = (int)$v;
        }
    }
    $d['courseformatoptions'] = array(array('name' => 'hiddensections', 'value' => 1),
                                      array('name' => 'coursedisplay', 'value' => 0));
    return $d;
}

function fm_ws_get_courses_by_field(array $params, $token) {
    global $DB;
    $field = fm_ws_param($params, 'field', '');
    $value = fm_ws_param($params, 'value', '');
    $warnings = array();
    switch ($field) {
        case '':
            $courses = $DB->get_records('course');
            break;
        case 'id':
        case 'category':
            $courses = $DB->get_records('course', array($field => (int)$value));
            break;
        case 'ids':
            $courses = array();
            foreach (array_filter(array_map('intval', explode(',', $value))) as $id) {
                $c = $DB->get_record('course', array('id' => $id));
                if ($c) {
                    $courses[] = $c;
                } else {
                    $warnings[] = array('item' => 'course', 'itemid' => $id, 'warningcode' => '1',
                                        'message' => 'No access rights in course context');
                }
            }
            usort($courses, function ($a, $b) {
                return $a->id - $b->id;
            });
            break;
        case 'shortname':
        case 'idnumber':
            $courses = $DB->get_records('course', array($field => $value));
            break;
        default:
            throw fm_ws_invalid_parameter('Invalid field name');
    }
    $out = array();
    foreach ($courses as $c) {
        $out[] = fm_ws_course_data($c);
    }
    return array('courses' => $out, 'warnings' => $warnings);
}

// ------------------------------------------------------------------ core_course_get_contents
function fm_ws_get_contents(array $params, $token) {
    global $CFG, $DB;
    $courseid = fm_ws_param($params, 'courseid', null, true);
    $filters = array();
    $options = isset($params['options']) ? $params['options'] : array();
    foreach ((array)$options as $o) {
        $name = is_array($o) && isset($o['name']) ? trim($o['name']) : '';
        switch ($name) {
            case 'excludemodules':
            case 'excludecontents':
            case 'includestealthmodules':
                $filters[$name] = (bool)(isset($o['value']) ? $o['value'] : false);
                break;
            default:
                throw new fm_ws_exception('moodle_exception', 'errorinvalidparam', "The param \"$name\" is invalid.");
        }
    }
    $course = $DB->get_record('course', array('id' => $courseid));
    if (!$course) {
        throw fm_ws_missing_record('course');
    }
    $modnames = array();
    foreach ($DB->get_records('modules') as $mod) {
        $modnames[$mod->id] = $mod->name;
    }
    $sections = $DB->get_records('course_sections', array('course' => $course->id), 'section');
    $last = 0;
    foreach ($sections as $s) {
        $last = max($last, (int)$s->section);
    }
    $out = array();
    foreach ($sections as $s) {
        $modules = array();
        if (empty($filters['excludemodules'])) {
            // course_modinfo: the section's sequence first; modules being deleted never show.
            $cms = $DB->get_records_sql('SELECT * FROM {course_modules}'
                                        . ' WHERE section = ? AND course = ? AND deletioninprogress = 0',
                                        array($s->id, $course->id));
            $order = array_flip(array_filter(explode(',', (string)$s->sequence), 'strlen'));
            usort($cms, function ($a, $b) use ($order) {
                $x = isset($order[$a->id]) ? $order[$a->id] : PHP_INT_MAX;
                $y = isset($order[$b->id]) ? $order[$b->id] : PHP_INT_MAX;
                return $x === $y ? $a->id - $b->id : ($x < $y ? -1 : 1);
            });
            foreach ($cms as $cm) {
                $modules[] = fm_ws_module($cm, isset($modnames[$cm->module]) ? $modnames[$cm->module] : 'unknown',
                                          !empty($filters['excludecontents']));
            }
        }
        $name = $s->name !== null && $s->name !== '' ? $s->name : ($s->section == 0 ? 'General' : 'Section '
                                                                    . $s->section);
        $out[] = array(
            'id' => (int)$s->id,
            'name' => external_format_string($name),
            'visible' => (int)$s->visible,
            'summary' => (string)$s->summary,
            'summaryformat' => 1,
            'section' => (int)$s->section,
            'hiddenbynumsections' => (int)$s->section > $last ? 1 : 0,
            'uservisible' => true,
            'modules' => $modules,
        );
    }
    return $out;
}

function fm_ws_module($cm, $modname, $excludecontents) {
    global $CFG, $DB;
    $instancetables = array('assign', 'folder', 'forum', 'label', 'page', 'quiz', 'resource', 'url');
    $name = ucfirst($modname);
    if (in_array($modname, $instancetables) && ($inst = $DB->get_record($modname, array('id' => $cm->instance)))) {
        $name = $inst->name;
    }
    $ctx = fm_context(FM_CONTEXT_MODULE, $cm->id);
    $m = array(
        'id' => (int)$cm->id,
        'name' => external_format_string($name),
        'instance' => (int)$cm->instance,
        'contextid' => $ctx ? (int)$ctx->id : 0,
        'visible' => (int)$cm->visible,
        'uservisible' => true,
        'visibleoncoursepage' => (int)$cm->visibleoncoursepage,
        'modicon' => $CFG->wwwroot . "/theme/image.php/boost/$modname/1/monologo",
        'modname' => $modname,
        'modplural' => ucfirst($modname) . 's',
        'indent' => (int)$cm->indent,
        'onclick' => '',
        'afterlink' => null,
        'customdata' => '""',
        'noviewlink' => $modname === 'label',
        'completion' => (int)$cm->completion,
        'downloadcontent' => (int)$cm->downloadcontent,
        'dates' => array(),
        'groupmode' => (int)$cm->groupmode,
    );
    if ($modname !== 'label') {
        $m['url'] = $CFG->wwwroot . "/mod/$modname/view.php?id=" . $cm->id;
    }
    if (in_array($modname, array('resource', 'folder', 'page', 'url'))) {
        $files = $ctx ? $DB->get_records_sql("SELECT * FROM {files} WHERE contextid = ? AND filearea = 'content'"
                                             . " AND filename <> '.' ORDER BY sortorder DESC, id", array($ctx->id))
                      : array();
        $contents = array();
        $size = 0;
        $mimes = array();
        foreach ($files as $f) {
            $size += $f->filesize;
            $mimes[$f->mimetype] = $f->mimetype;
            $contents[] = array(
                'type' => 'file', 'filename' => $f->filename, 'filepath' => $f->filepath,
                'filesize' => (int)$f->filesize,
                'fileurl' => $CFG->wwwroot . '/webservice/pluginfile.php/' . $ctx->id . '/' . $f->component
                             . '/content/0' . $f->filepath . rawurlencode($f->filename) . '?forcedownload=1',
                'timecreated' => (int)$f->timecreated, 'timemodified' => (int)$f->timemodified,
                'sortorder' => (int)$f->sortorder, 'mimetype' => $f->mimetype, 'isexternalfile' => false,
                'userid' => (int)$f->userid, 'author' => (string)$f->author, 'license' => (string)$f->license,
            );
        }
        $m['contentsinfo'] = array('filescount' => count($contents), 'filessize' => $size,
                                   'lastmodified' => 0, 'mimetypes' => array_values($mimes), 'repositorytype' => '');
        $m['contents'] = $excludecontents ? array() : $contents;
    }
    return $m;
}

// ------------------------------------------------------------------ the REST server
/** webservice_rest_server::run(): parameters from GET and POST, the answer or the error object as JSON. */
function fm_ws_rest_serve() {
    $request = array_merge($_GET, $_POST);
    $format = isset($request['moodlewsrestformat']) ? $request['moodlewsrestformat'] : 'xml';
    try {
        $result = fm_ws_dispatch($request);
        $out = json_encode($result);
    } catch (fm_ws_exception $e) {
        $err = array('exception' => $e->class, 'errorcode' => $e->errorcode, 'message' => $e->getMessage());
        if ($e->debuginfo !== null && getenv('FAKEMOODLE_DEBUG')) {
            $err['debuginfo'] = $e->debuginfo;
        }
        $out = json_encode($err);
    } catch (Throwable $e) {
        $err = array('exception' => 'dml_read_exception', 'errorcode' => 'dmlreadexception',
                     'message' => 'Error reading from database');
        if (getenv('FAKEMOODLE_DEBUG')) {
            $err['debuginfo'] = $e->getMessage();
        }
        $out = json_encode($err);
    }
    if ($format !== 'json') {
        // Only JSON is faked; Moodle's default is XML.
        header('Content-Type: application/xml; charset=utf-8');
        echo "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<EXCEPTION class=\"moodle_exception\">\n"
            . "<ERRORCODE>fakemoodle</ERRORCODE>\n<MESSAGE>only moodlewsrestformat=json is faked</MESSAGE>\n"
            . "</EXCEPTION>\n";
        return;
    }
    header('Content-Type: application/json; charset=utf-8');
    header('Cache-Control: private, must-revalidate, pre-check=0, post-check=0, max-age=0');
    header('Expires: ' . gmdate('D, d M Y H:i:s', 0) . ' GMT');
    header('Pragma: no-cache');
    header('Accept-Ranges: none');
    echo $out;
}
