<?php
// fakemoodle: writing a course backup (.mbz = gzip'ed ustar shaped like Moodle 4.5.6's).

function fm_x($tag, $value, $indent) {
    return str_repeat(' ', $indent) . "<$tag>" . fm_xml($value) . "</$tag>\n";
}

function fm_xmlfile($body) {
    return '<?xml version="1.0" encoding="UTF-8"?>' . "\n" . $body;
}

function fm_empty_xml($root, array $children = array()) {
    $s = "<$root>\n";
    foreach ($children as $c) {
        $s .= "  <$c>\n  </$c>\n";
    }
    return fm_xmlfile($s . "</$root>");
}

/** Collect everything a course backup needs from the DB. */
function fm_backup_data($course) {
    global $DB;
    $d = new stdClass();
    $d->course = $course;
    $d->ctx = fm_context(FM_CONTEXT_COURSE, $course->id);
    $d->category = $DB->get_record('course_categories', array('id' => $course->category));
    $d->sections = $DB->get_records('course_sections', array('course' => $course->id), 'section, id');
    $secbyid = array();
    foreach ($d->sections as $s) {
        $secbyid[$s->id] = $s;
    }
    $cms = $DB->get_records_sql("SELECT cm.*, m.name AS modname FROM {course_modules} cm
                                   JOIN {modules} m ON m.id = cm.module
                                  WHERE cm.course = ? AND cm.deletioninprogress = 0 ORDER BY cm.id",
                                array($course->id));
    $d->activities = array();
    foreach ($cms as $cm) {
        $inst = false;
        if ($DB->table_exists($cm->modname)) {
            $inst = $DB->get_record($cm->modname, array('id' => $cm->instance));
        }
        $cm->name = $inst ? $inst->name : $cm->modname . ' ' . $cm->id;
        $cm->intro = $inst ? $inst->intro : '';
        $cm->timemodified = $inst ? $inst->timemodified : $cm->added;
        $cm->ctx = fm_context(FM_CONTEXT_MODULE, $cm->id);
        $cm->sectionnumber = isset($secbyid[$cm->section]) ? $secbyid[$cm->section]->section : 0;
        $d->activities[] = $cm;
    }
    $ctxids = array();
    if ($d->ctx) {
        foreach (fm_course_contexts($d->ctx) as $c) {
            $ctxids[] = (int)$c->id;
        }
    }
    $d->files = array();
    if ($ctxids) {
        $d->files = $DB->get_records_sql("SELECT * FROM {files} WHERE contextid IN (" . implode(',', $ctxids) . ")
                                             AND component <> 'backup' ORDER BY id");
    }
    $d->blobs = array();   // contenthash => size, insertion order
    foreach ($d->files as $f) {
        if ($f->filename === '.') {
            continue;
        }
        $d->blobs[$f->contenthash] = (int)$f->filesize;
    }
    return $d;
}

function fm_module_xml($cm) {
    $s = "<module id=\"{$cm->id}\" version=\"" . FM_BACKUP_VERSION . "\">\n";
    $s .= fm_x('modulename', $cm->modname, 2);
    $s .= fm_x('sectionid', $cm->section, 2);
    $s .= fm_x('sectionnumber', $cm->sectionnumber, 2);
    $s .= fm_x('idnumber', (string)$cm->idnumber, 2);
    $s .= fm_x('added', $cm->added, 2);
    $s .= fm_x('score', $cm->score, 2);
    $s .= fm_x('indent', $cm->indent, 2);
    $s .= fm_x('visible', $cm->visible, 2);
    $s .= fm_x('visibleoncoursepage', $cm->visibleoncoursepage, 2);
    $s .= fm_x('visibleold', $cm->visibleold, 2);
    $s .= fm_x('groupmode', $cm->groupmode, 2);
    $s .= fm_x('groupingid', $cm->groupingid, 2);
    $s .= fm_x('completion', $cm->completion, 2);
    $s .= fm_x('completiongradeitemnumber', $cm->completiongradeitemnumber, 2);
    $s .= fm_x('completionpassgrade', $cm->completionpassgrade, 2);
    $s .= fm_x('completionview', $cm->completionview, 2);
    $s .= fm_x('completionexpected', $cm->completionexpected, 2);
    $s .= fm_x('availability', $cm->availability, 2);
    $s .= fm_x('showdescription', $cm->showdescription, 2);
    $s .= fm_x('downloadcontent', $cm->downloadcontent, 2);
    $s .= fm_x('lang', $cm->lang, 2);
    $s .= "  <tags>\n  </tags>\n</module>";
    return fm_xmlfile($s);
}

function fm_activity_xml($cm) {
    $ctxid = $cm->ctx ? $cm->ctx->id : 0;
    $s = "<activity id=\"{$cm->instance}\" moduleid=\"{$cm->id}\" modulename=\"{$cm->modname}\" contextid=\"{$ctxid}\">\n";
    $s .= "  <{$cm->modname} id=\"{$cm->instance}\">\n";
    $s .= fm_x('name', $cm->name, 4);
    $s .= fm_x('intro', $cm->intro, 4);
    $s .= fm_x('introformat', 0, 4);
    $s .= fm_x('timemodified', $cm->timemodified, 4);
    $s .= "  </{$cm->modname}>\n</activity>";
    return fm_xmlfile($s);
}

function fm_inforef_xml($fileids) {
    if (!$fileids) {
        return fm_xmlfile("<inforef>\n</inforef>");
    }
    $s = "<inforef>\n  <fileref>\n";
    foreach ($fileids as $id) {
        $s .= "    <file>\n      <id>$id</id>\n    </file>\n";
    }
    return fm_xmlfile($s . "  </fileref>\n</inforef>");
}

function fm_files_xml($files) {
    if (!$files) {
        return fm_xmlfile("<files>\n</files>");
    }
    $s = "<files>\n";
    foreach ($files as $f) {
        $s .= "  <file id=\"{$f->id}\">\n";
        foreach (array('contenthash', 'contextid', 'component', 'filearea', 'itemid', 'filepath', 'filename',
                       'userid', 'filesize', 'mimetype', 'status', 'timecreated', 'timemodified', 'source',
                       'author', 'license', 'sortorder') as $k) {
            $s .= fm_x($k, $f->$k, 4);
        }
        $s .= fm_x('repositorytype', null, 4) . fm_x('repositoryid', null, 4) . fm_x('reference', null, 4);
        $s .= "  </file>\n";
    }
    return fm_xmlfile($s . "</files>");
}

function fm_course_xml($d) {
    $c = $d->course;
    $s = "<course id=\"{$c->id}\" contextid=\"{$d->ctx->id}\">\n";
    foreach (array('shortname', 'fullname', 'idnumber', 'summary', 'summaryformat', 'format', 'showgrades',
                   'newsitems', 'startdate', 'enddate', 'marker', 'maxbytes', 'legacyfiles', 'showreports',
                   'visible', 'groupmode', 'groupmodeforce', 'defaultgroupingid', 'lang', 'theme',
                   'timecreated', 'timemodified', 'requested', 'showactivitydates',
                   'showcompletionconditions', 'pdfexportfont', 'enablecompletion', 'completionnotify') as $k) {
        $v = $c->$k;
        if ($k === 'summary' && $v === null) {
            $v = '';
        }
        $s .= fm_x($k, $v, 2);
    }
    $catid = $d->category ? $d->category->id : $c->category;
    $s .= "  <category id=\"$catid\">\n";
    $s .= fm_x('name', $d->category ? $d->category->name : '', 4);
    $s .= fm_x('description', $d->category ? (string)$d->category->description : '', 4);
    $s .= "  </category>\n  <tags>\n  </tags>\n  <customfields>\n  </customfields>\n";
    $s .= "  <courseformatoptions>\n";
    foreach (array('hiddensections' => 1, 'coursedisplay' => 0) as $n => $v) {
        $s .= "    <courseformatoption>\n" . fm_x('format', $c->format, 6) . fm_x('sectionid', 0, 6)
            . fm_x('name', $n, 6) . fm_x('value', $v, 6) . "    </courseformatoption>\n";
    }
    $s .= "  </courseformatoptions>\n</course>";
    return fm_xmlfile($s);
}

function fm_section_xml($sec) {
    $s = "<section id=\"{$sec->id}\">\n";
    $s .= fm_x('number', $sec->section, 2);
    $s .= fm_x('name', $sec->name, 2);
    $s .= fm_x('summary', (string)$sec->summary, 2);
    $s .= fm_x('summaryformat', $sec->summaryformat, 2);
    $s .= fm_x('sequence', (string)$sec->sequence, 2);
    $s .= fm_x('visible', $sec->visible, 2);
    $s .= fm_x('availabilityjson', $sec->availability, 2);
    $s .= fm_x('component', $sec->component, 2);
    $s .= fm_x('itemid', $sec->itemid, 2);
    $s .= fm_x('timemodified', $sec->timemodified, 2);
    return fm_xmlfile($s . "</section>");
}

function fm_enrolments_xml($time) {
    $s = "<enrolments>\n  <enrols>\n";
    $id = 1;
    foreach (array(array('manual', 0, 5), array('guest', 1, 0), array('self', 1, 5)) as $e) {
        $s .= "    <enrol id=\"" . ($id++) . "\">\n";
        $s .= fm_x('enrol', $e[0], 6) . fm_x('status', $e[1], 6) . fm_x('name', null, 6);
        $s .= fm_x('enrolperiod', 0, 6) . fm_x('enrolstartdate', 0, 6) . fm_x('enrolenddate', 0, 6);
        $s .= fm_x('roleid', $e[2], 6);
        $s .= fm_x('timecreated', $time, 6) . fm_x('timemodified', $time, 6);
        $s .= "      <user_enrolments>\n      </user_enrolments>\n    </enrol>\n";
    }
    return fm_xmlfile($s . "  </enrols>\n</enrolments>");
}

function fm_moodle_backup_xml($d, $filename, $time, $backupid) {
    global $CFG, $DB;
    $c = $d->course;
    $i = 4;
    $s = "<moodle_backup>\n  <information>\n";
    $s .= fm_x('name', $filename, $i);
    $s .= fm_x('moodle_version', $DB->get_config('version'), $i);
    $s .= fm_x('moodle_release', $DB->get_config('release'), $i);
    $s .= fm_x('backup_version', FM_BACKUP_VERSION, $i);
    $s .= fm_x('backup_release', FM_BACKUP_RELEASE, $i);
    $s .= fm_x('backup_date', $time, $i);
    $s .= fm_x('mnet_remoteusers', 0, $i);
    $s .= fm_x('include_files', 1, $i);
    $s .= fm_x('include_file_references_to_external_content', 0, $i);
    $s .= fm_x('original_wwwroot', $CFG->wwwroot, $i);
    $s .= fm_x('original_site_identifier_hash', md5((string)$DB->get_config('siteidentifier')), $i);
    $s .= fm_x('original_course_id', $c->id, $i);
    $s .= fm_x('original_course_format', $c->format, $i);
    $s .= fm_x('original_course_fullname', $c->fullname, $i);
    $s .= fm_x('original_course_shortname', $c->shortname, $i);
    $s .= fm_x('original_course_startdate', $c->startdate, $i);
    $s .= fm_x('original_course_enddate', $c->enddate, $i);
    $s .= fm_x('original_course_contextid', $d->ctx->id, $i);
    $s .= fm_x('original_system_contextid', 1, $i);
    $s .= "    <details>\n      <detail backup_id=\"$backupid\">\n";
    $s .= fm_x('type', 'course', 8) . fm_x('format', 'moodle2', 8) . fm_x('interactive', 1, 8)
        . fm_x('mode', 10, 8) . fm_x('execution', 1, 8) . fm_x('executiontime', 0, 8);
    $s .= "      </detail>\n    </details>\n    <contents>\n";
    if ($d->activities) {
        $s .= "      <activities>\n";
        foreach ($d->activities as $cm) {
            $s .= "        <activity>\n";
            $s .= fm_x('moduleid', $cm->id, 10) . fm_x('sectionid', $cm->section, 10)
                . fm_x('modulename', $cm->modname, 10) . fm_x('title', $cm->name, 10)
                . fm_x('directory', "activities/{$cm->modname}_{$cm->id}", 10) . fm_x('insubsection', '', 10);
            $s .= "        </activity>\n";
        }
        $s .= "      </activities>\n";
    }
    if ($d->sections) {
        $s .= "      <sections>\n";
        foreach ($d->sections as $sec) {
            $s .= "        <section>\n";
            $s .= fm_x('sectionid', $sec->id, 10)
                . fm_x('title', $sec->name !== null ? $sec->name : (string)$sec->section, 10)
                . fm_x('directory', "sections/section_{$sec->id}", 10)
                . fm_x('parentcmid', '', 10) . fm_x('modname', '', 10);
            $s .= "        </section>\n";
        }
        $s .= "      </sections>\n";
    }
    $s .= "      <course>\n" . fm_x('courseid', $c->id, 8) . fm_x('title', $c->shortname, 8)
        . fm_x('directory', 'course', 8) . "      </course>\n";
    $s .= "    </contents>\n    <settings>\n";
    $root = array('filename' => $filename, 'imscc11' => 0, 'users' => 1, 'anonymize' => 0,
                  'role_assignments' => 1, 'activities' => 1, 'blocks' => 1, 'files' => 1, 'filters' => 1,
                  'comments' => 1, 'badges' => 1, 'calendarevents' => 1, 'userscompletion' => 1, 'logs' => 0,
                  'grade_histories' => 0, 'questionbank' => 1, 'groups' => 1, 'competencies' => 1,
                  'customfield' => 1, 'contentbankcontent' => 1, 'xapistate' => 1, 'legacyfiles' => 1);
    foreach ($root as $n => $v) {
        $s .= "      <setting>\n" . fm_x('level', 'root', 8) . fm_x('name', $n, 8) . fm_x('value', $v, 8)
            . "      </setting>\n";
    }
    foreach ($d->sections as $sec) {
        $sn = "section_{$sec->id}";
        foreach (array('included', 'userinfo') as $k) {
            $s .= "      <setting>\n" . fm_x('level', 'section', 8) . fm_x('section', $sn, 8)
                . fm_x('name', "{$sn}_$k", 8) . fm_x('value', 1, 8) . "      </setting>\n";
        }
        foreach ($d->activities as $cm) {
            if ($cm->section != $sec->id) {
                continue;
            }
            $an = "{$cm->modname}_{$cm->id}";
            foreach (array('included', 'userinfo') as $k) {
                $s .= "      <setting>\n" . fm_x('level', 'activity', 8) . fm_x('activity', $an, 8)
                    . fm_x('name', "{$an}_$k", 8) . fm_x('value', 1, 8) . "      </setting>\n";
            }
        }
    }
    $s .= "    </settings>\n  </information>\n</moodle_backup>";
    return fm_xmlfile($s);
}

/**
 * Build the ordered member list: array of [name, type('d'|'s'|'f'), data-or-path, size, mtime].
 */
function fm_backup_members($d, $filename, $time) {
    $m = array();
    $dir = function ($n) use (&$m) {
        $m[] = array($n, 'd', null, 0, FM_DIR_MTIME);
    };
    $str = function ($n, $data) use (&$m, $time) {
        $m[] = array($n, 's', $data, strlen($data), $time);
    };
    $filesbyctx = array();
    foreach ($d->files as $f) {
        $filesbyctx[$f->contextid][] = $f->id;
    }
    if ($d->activities) {
        $dir('activities/');
        foreach (array_reverse($d->activities) as $cm) {
            $p = "activities/{$cm->modname}_{$cm->id}/";
            $dir($p);
            $fids = ($cm->ctx && isset($filesbyctx[$cm->ctx->id])) ? $filesbyctx[$cm->ctx->id] : array();
            $str($p . 'grade_history.xml', fm_empty_xml('grade_history', array('grade_grades')));
            $str($p . $cm->modname . '.xml', fm_activity_xml($cm));
            $str($p . 'inforef.xml', fm_inforef_xml($fids));
            $str($p . 'roles.xml', fm_empty_xml('roles', array('role_overrides', 'role_assignments')));
            $str($p . 'grades.xml', fm_empty_xml('activity_gradebook', array('grade_items', 'grade_letters')));
            $str($p . 'filters.xml', fm_empty_xml('filters', array('filter_actives', 'filter_configs')));
            $str($p . 'comments.xml', fm_empty_xml('comments'));
            $str($p . 'module.xml', fm_module_xml($cm));
            $str($p . 'competencies.xml', fm_empty_xml('course_module_competencies', array('competencies')));
            $str($p . 'xapistate.xml', fm_empty_xml('states'));
            $str($p . 'completion.xml', fm_empty_xml('completions', array('completionviews')));
            $str($p . 'calendar.xml', fm_empty_xml('events'));
            if (in_array($cm->modname, array('assign', 'forum', 'quiz'))) {
                $str($p . 'grading.xml', fm_empty_xml('areas'));
            }
        }
    }
    $str('badges.xml', fm_empty_xml('badges'));
    $str('completion.xml', fm_empty_xml('course_completion'));
    $dir('course/');
    $str('course/course.xml', fm_course_xml($d));
    $coursefids = isset($filesbyctx[$d->ctx->id]) ? $filesbyctx[$d->ctx->id] : array();
    $str('course/inforef.xml', fm_xmlfile("<inforef>\n  <roleref>\n    <role>\n      <id>5</id>\n    </role>\n  </roleref>\n</inforef>"));
    $str('course/roles.xml', fm_empty_xml('roles', array('role_overrides', 'role_assignments')));
    $str('course/completiondefaults.xml', fm_empty_xml('course_completion_defaults'));
    $str('course/filters.xml', fm_empty_xml('filters', array('filter_actives', 'filter_configs')));
    $str('course/comments.xml', fm_empty_xml('comments'));
    $str('course/contentbank.xml', fm_empty_xml('contents'));
    $str('course/enrolments.xml', fm_enrolments_xml($time));
    $str('course/competencies.xml', fm_empty_xml('course_competencies', array('competencies', 'user_competencies')));
    $str('course/calendar.xml', fm_empty_xml('events'));
    if ($d->blobs) {
        $dir('files/');
        $byprefix = array();
        foreach ($d->blobs as $hash => $size) {
            $byprefix[substr($hash, 0, 2)][$hash] = $size;
        }
        foreach ($byprefix as $pre => $blobs) {
            $dir("files/$pre/");
            foreach ($blobs as $hash => $size) {
                $path = fm_filedir_path($hash);
                if (!is_readable($path)) {
                    throw new moodle_exception('storedfilenotreadable', 'error',
                        'Can not read file, either file does not exist or there are permission problems');
                }
                $m[] = array("files/$pre/$hash", 'f', $path, filesize($path), $time);
            }
        }
    }
    $str('files.xml', fm_files_xml($d->files));
    $str('grade_history.xml', fm_empty_xml('grade_history', array('grade_grades')));
    $str('gradebook.xml', fm_xmlfile("<gradebook>\n  <attributes>\n  </attributes>\n  <grade_categories>\n  </grade_categories>\n  <grade_items>\n  </grade_items>\n  <grade_letters>\n  </grade_letters>\n  <grade_settings>\n    <grade_setting id=\"\">\n      <name>minmaxtouse</name>\n      <value>1</value>\n    </grade_setting>\n  </grade_settings>\n</gradebook>"));
    $str('groups.xml', fm_xmlfile("<groups>\n  <groupcustomfields>\n  </groupcustomfields>\n  <groupings>\n    <groupingcustomfields>\n    </groupingcustomfields>\n  </groupings>\n</groups>"));
    $str('moodle_backup.xml', fm_moodle_backup_xml($d, $filename, $time, fm_random_hex32()));
    $str('outcomes.xml', fm_empty_xml('outcomes_definition'));
    $str('questions.xml', fm_empty_xml('question_categories'));
    $str('roles.xml', fm_xmlfile("<roles_definition>\n  <role id=\"5\">\n    <name></name>\n    <shortname>student</shortname>\n    <nameincourse>\$@NULL@\$</nameincourse>\n    <description></description>\n    <sortorder>5</sortorder>\n    <archetype>student</archetype>\n  </role>\n</roles_definition>"));
    $str('scales.xml', fm_empty_xml('scales_definition'));
    if ($d->sections) {
        $dir('sections/');
        foreach ($d->sections as $sec) {
            $p = "sections/section_{$sec->id}/";
            $dir($p);
            $str($p . 'inforef.xml', fm_xmlfile("<inforef>\n</inforef>"));
            $str($p . 'section.xml', fm_section_xml($sec));
        }
    }
    $str('users.xml', fm_empty_xml('users'));
    $str('moodle_backup.log', '');
    return $m;
}

/**
 * Write the backup of $course to $path. $diefraction: fault "die" (kill after that fraction).
 * Returns the number of bytes written.
 */
function fm_write_backup($course, $path, $filename, $time, $diefraction = null) {
    $d = fm_backup_data($course);
    $members = fm_backup_members($d, $filename, $time);
    $index = 'Moodle archive file index. Count: ' . count($members) . "\n";
    $total = 0;
    foreach ($members as $mm) {
        if ($mm[1] === 'd') {
            $index .= $mm[0] . "\td\t0\t?\n";
        } else {
            $index .= $mm[0] . "\tf\t" . $mm[3] . "\t" . $mm[4] . "\n";
            $total += 512 + $mm[3];
        }
    }
    $w = new fm_tgz_writer($path);
    if ($diefraction !== null) {
        $w->killat = max(1024, (int)($total * $diefraction));
    }
    $w->add_string('.ARCHIVE_INDEX', $index, FM_DIR_MTIME);
    foreach ($members as $mm) {
        if ($mm[1] === 'd') {
            $w->add_dir($mm[0]);
        } else if ($mm[1] === 's') {
            $w->add_string($mm[0], $mm[2], $mm[4]);
        } else {
            $w->add_file($mm[0], $mm[2], $mm[4]);
        }
    }
    $w->close();
    return filesize($path);
}
