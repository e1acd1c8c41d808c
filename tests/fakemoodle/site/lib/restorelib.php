<?php
// fakemoodle: course creation / restore / deletion helpers.

/** restore_dbops::calculate_course_names() */
function fm_calculate_course_names($courseid, $fullname, $shortname) {
    global $DB;
    $counter = 0;
    while (true) {
        $suffixfull = ($counter == 0) ? '' : " copy $counter";
        $suffixshort = ($counter == 0) ? '' : "_$counter";
        $currentfullname = $fullname . $suffixfull;
        // restore_dbops::calculate_course_names(): the suffix fits in course.shortname's 100
        $currentshortname = substr($shortname, 0, 100 - strlen($suffixshort)) . $suffixshort;
        $coursefull = $DB->record_exists_sql("SELECT id FROM {course} WHERE fullname = ? AND id <> ?",
                                             array($currentfullname, $courseid));
        $courseshort = $DB->record_exists_sql("SELECT id FROM {course} WHERE shortname = ? AND id <> ?",
                                              array($currentshortname, $courseid));
        if (!$coursefull && !$courseshort) {
            return array($currentfullname, $currentshortname);
        }
        $counter++;
    }
}

/** restore_dbops::create_new_course(): a placeholder course with its context. */
function fm_create_new_course($fullname, $shortname, $categoryid) {
    global $DB;
    $cat = $DB->get_record('course_categories', array('id' => $categoryid));
    $catctx = fm_context(FM_CONTEXT_COURSECAT, $categoryid);
    $now = time();
    $sort = (int)$DB->get_field_sql("SELECT COALESCE(MAX(sortorder), 0) FROM {course} WHERE category = ?",
                                    array($categoryid));
    $sort = max($sort + 1, (int)$cat->sortorder + 1);
    $id = $DB->insert_record('course', array(
        'category' => $categoryid, 'sortorder' => $sort, 'fullname' => $fullname, 'shortname' => $shortname,
        'idnumber' => '', 'summary' => '', 'summaryformat' => 1, 'format' => 'topics', 'visible' => 1,
        'startdate' => 0, 'timecreated' => $now, 'timemodified' => $now));
    fm_create_context(FM_CONTEXT_COURSE, $id, $catctx);
    fm_update_coursecount($categoryid);
    return $id;
}

/** Remove a course and everything hanging under its context. */
function fm_delete_course_data($course) {
    global $DB;
    $ctx = fm_context(FM_CONTEXT_COURSE, $course->id);
    if ($ctx) {
        $DB->execute("DELETE FROM {files} WHERE contextid IN (SELECT id FROM {context} WHERE id = ? OR path LIKE ?)",
                     array($ctx->id, $ctx->path . '/%'));
        $DB->execute("DELETE FROM {context} WHERE id = ? OR path LIKE ?", array($ctx->id, $ctx->path . '/%'));
    }
    $mods = $DB->get_records_sql("SELECT cm.id, cm.instance, m.name FROM {course_modules} cm
                                    JOIN {modules} m ON m.id = cm.module WHERE cm.course = ?", array($course->id));
    foreach ($mods as $cm) {
        if ($DB->table_exists($cm->name)) {
            $DB->execute("DELETE FROM {" . $cm->name . "} WHERE id = ?", array($cm->instance));
        }
    }
    $DB->execute("DELETE FROM {course_modules} WHERE course = ?", array($course->id));
    $DB->execute("DELETE FROM {course_sections} WHERE course = ?", array($course->id));
    $DB->execute("DELETE FROM {backup_controllers} WHERE itemid = ? AND type = 'course'", array($course->id));
    $DB->execute("DELETE FROM {course} WHERE id = ?", array($course->id));
    fm_update_coursecount($course->category);
}

/** After a failed restore: the course made for it goes, straight (never to a recycle bin). */
function fm_discard_new_course($courseid) {
    global $DB;
    if ($courseid && ($c = $DB->get_record('course', array('id' => $courseid)))) {
        fm_delete_course_data($c);
    }
}

/** Read what restore needs from an extracted backup folder. Throws on a missing moodle_backup.xml. */
function fm_read_backup_dir($path) {
    if (!is_readable($path . '/moodle_backup.xml')) {
        throw new moodle_exception('missing_moodle_backup_xml_file', 'error',
                                   'error/missing_moodle_backup_xml_file');
    }
    $mb = file_get_contents($path . '/moodle_backup.xml');
    $info = new stdClass();
    $info->original_course_id = fm_xml_get($mb, 'original_course_id');
    $info->original_course_fullname = fm_xml_get($mb, 'original_course_fullname');
    $info->original_course_shortname = fm_xml_get($mb, 'original_course_shortname');
    $info->type = fm_xml_get($mb, 'type');
    $info->activities = array();
    foreach (fm_xml_all($mb, 'activity') as $a) {
        $info->activities[] = (object)array('moduleid' => fm_xml_get($a, 'moduleid'),
            'sectionid' => fm_xml_get($a, 'sectionid'), 'modulename' => fm_xml_get($a, 'modulename'),
            'title' => fm_xml_get($a, 'title'), 'directory' => fm_xml_get($a, 'directory'));
    }
    $info->sections = array();
    foreach (fm_xml_all($mb, 'section') as $s) {
        $info->sections[] = (object)array('sectionid' => fm_xml_get($s, 'sectionid'),
            'title' => fm_xml_get($s, 'title'), 'directory' => fm_xml_get($s, 'directory'));
    }
    if (!is_readable($path . '/course/course.xml')) {
        throw new moodle_exception('missing_course_xml', 'error', 'error/backup_controller_missing_course_xml');
    }
    $cx = file_get_contents($path . '/course/course.xml');
    $course = new stdClass();
    preg_match('~<course id="(\d+)" contextid="(\d+)">~', $cx, $m);
    $course->oldid = $m ? (int)$m[1] : 0;
    $course->oldcontextid = $m ? (int)$m[2] : 0;
    $head = preg_replace('~<category .*$~s', '', $cx);   // fields of <course> only
    foreach (array('shortname', 'fullname', 'idnumber', 'summary', 'summaryformat', 'format', 'startdate',
                   'enddate', 'visible', 'showgrades', 'newsitems', 'lang', 'theme') as $k) {
        $course->$k = fm_xml_get($head, $k);
    }
    $info->course = $course;
    return $info;
}

/**
 * Fill the placeholder course $courseid from the extracted backup, named after the restore's
 * course_fullname / course_shortname settings (Moodle renames them when taken).
 */
function fm_restore_into($courseid, $path, $info, $fullname, $shortname) {
    global $DB;
    $now = time();
    $bc = $info->course;
    list($fullname, $shortname) = fm_calculate_course_names($courseid, $fullname, $shortname);
    $DB->update_record('course', array('id' => $courseid, 'fullname' => $fullname, 'shortname' => $shortname,
        'idnumber' => '', 'summary' => (string)$bc->summary, 'summaryformat' => (int)$bc->summaryformat,
        'format' => $bc->format ?: 'topics', 'startdate' => (int)$bc->startdate, 'enddate' => (int)$bc->enddate,
        'visible' => ($bc->visible === null ? 1 : (int)$bc->visible), 'timemodified' => $now));
    $coursectx = fm_context(FM_CONTEXT_COURSE, $courseid);
    $ctxmap = array($bc->oldcontextid => $coursectx->id);

    // Sections.
    $secmap = array();
    $sections = array();
    foreach ($info->sections as $s) {
        $x = @file_get_contents($path . '/' . $s->directory . '/section.xml');
        if ($x === false) {
            continue;
        }
        $sections[] = array($s, $x);
    }
    foreach ($sections as $pair) {
        list($s, $x) = $pair;
        $number = (int)fm_xml_get($x, 'number');
        $id = $DB->insert_record('course_sections', array('course' => $courseid, 'section' => $number,
            'name' => fm_xml_get($x, 'name'), 'summary' => (string)fm_xml_get($x, 'summary'),
            'summaryformat' => (int)fm_xml_get($x, 'summaryformat'), 'sequence' => '',
            'visible' => (int)fm_xml_get($x, 'visible', 1), 'timemodified' => $now));
        $secmap[$s->sectionid] = $id;
    }
    if (!$secmap) {
        $secmap[0] = $DB->insert_record('course_sections', array('course' => $courseid, 'section' => 0,
            'summary' => '', 'summaryformat' => 1, 'sequence' => '', 'timemodified' => $now));
    }
    // Activities.
    $sequences = array();
    foreach ($info->activities as $a) {
        $module = $DB->get_record('modules', array('name' => $a->modulename));
        if (!$module) {
            continue;   // plugin not installed here: Moodle skips it
        }
        $modxml = @file_get_contents($path . '/' . $a->directory . '/module.xml');
        $actxml = @file_get_contents($path . '/' . $a->directory . '/' . $a->modulename . '.xml');
        if ($modxml === false || $actxml === false) {
            continue;
        }
        $sectionid = isset($secmap[$a->sectionid]) ? $secmap[$a->sectionid] : reset($secmap);
        $instance = 0;
        if ($DB->table_exists($a->modulename)) {
            $instance = $DB->insert_record($a->modulename, array('course' => $courseid,
                'name' => (string)fm_xml_get($actxml, 'name', $a->title), 'intro' => (string)fm_xml_get($actxml, 'intro', ''),
                'introformat' => (int)fm_xml_get($actxml, 'introformat', 0), 'timemodified' => $now));
        }
        $cmid = $DB->insert_record('course_modules', array('course' => $courseid, 'module' => $module->id,
            'instance' => $instance, 'section' => $sectionid, 'idnumber' => (string)fm_xml_get($modxml, 'idnumber', ''),
            'added' => $now, 'visible' => (int)fm_xml_get($modxml, 'visible', 1)));
        $ctx = fm_create_context(FM_CONTEXT_MODULE, $cmid, $coursectx);
        if (preg_match('~<activity [^>]*contextid="(\d+)"~', $actxml, $m)) {
            $ctxmap[(int)$m[1]] = $ctx->id;
        }
        $sequences[$sectionid][] = $cmid;
    }
    foreach ($sequences as $sid => $cmids) {
        $DB->execute("UPDATE {course_sections} SET sequence = ? WHERE id = ?", array(implode(',', $cmids), $sid));
    }
    // Files.
    $fx = @file_get_contents($path . '/files.xml');
    if ($fx !== false) {
        foreach (fm_xml_all($fx, 'file') as $f) {
            $oldctx = (int)fm_xml_get($f, 'contextid');
            if (!isset($ctxmap[$oldctx])) {
                continue;
            }
            $hash = fm_xml_get($f, 'contenthash');
            $filename = fm_xml_get($f, 'filename');
            $size = (int)fm_xml_get($f, 'filesize');
            if ($filename !== '.') {
                $blob = $path . '/files/' . substr($hash, 0, 2) . '/' . $hash;
                $dest = fm_filedir_path($hash);
                if (!file_exists($dest)) {
                    if (!is_readable($blob)) {
                        continue;
                    }
                    fm_mkdir(dirname($dest));
                    copy($blob, $dest);
                }
            }
            fm_add_file_record($ctxmap[$oldctx], fm_xml_get($f, 'component'), fm_xml_get($f, 'filearea'),
                               (int)fm_xml_get($f, 'itemid'), fm_xml_get($f, 'filepath'), $filename, $hash, $size,
                               fm_xml_get($f, 'mimetype'), $now, (int)fm_xml_get($f, 'sortorder', 0));
        }
    }
    $course = $DB->get_record('course', array('id' => $courseid));
    fm_update_coursecount($course->category);
}
