<?php
// fakemoodle: a minimal core_course_category (Moodle 4.5: course/classes/category.php), loaded on
// first use by the autoloader in setup.php as Moodle's class loader would. Only what
// sessionarchiver's bridge uses: create(), get(), top(), get_children(), has_children(),
// has_courses(), delete_full(). There are no capabilities here: every category is visible, as it
// is to the admin the bridge runs as on a real site.

class core_course_category {
    /** @var core_course_category the pseudo category id 0 (the whole site) */
    protected static $coursecat0;

    // Read-only magic properties in Moodle; plain public fields here.
    public $id = 0;
    public $name = '';
    public $idnumber = null;
    public $parent = 0;
    public $sortorder = 0;
    public $coursecount = 0;
    public $visible = 1;
    public $depth = 0;
    public $path = '';

    protected function __construct(stdClass $record) {
        foreach (array('id', 'parent', 'sortorder', 'coursecount', 'visible', 'depth') as $k) {
            if (isset($record->$k)) {
                $this->$k = (int)$record->$k;
            }
        }
        foreach (array('name', 'idnumber', 'path') as $k) {
            if (property_exists($record, $k)) {
                $this->$k = $record->$k;
            }
        }
    }

    /** Moodle: unknown id -> moodle_exception('unknowncategory') with MUST_EXIST, else null. */
    public static function get($id, $strictness = MUST_EXIST, $alwaysreturnhidden = false, $user = null) {
        global $DB;
        if (!$id) {
            return self::top();
        }
        $record = $DB->get_record('course_categories', array('id' => (int)$id));
        if (!$record) {
            if ($strictness == MUST_EXIST) {
                throw new moodle_exception('unknowncategory', 'error', 'Unknown category');
            }
            return null;
        }
        return new self($record);
    }

    public static function top() {
        if (!isset(self::$coursecat0)) {
            self::$coursecat0 = new self((object)array('id' => 0, 'visible' => 1, 'depth' => 0, 'path' => ''));
        }
        return self::$coursecat0;
    }

    /**
     * Moodle's checks, in Moodle's order: name required and <= 255 chars, idnumber <= 100 chars and
     * unused, parent must exist (get(MUST_EXIST) -> 'unknowncategory'). Visibility comes from the
     * parent unless visible = 0 is given; path is the parent's path + '/id'; the context (level 40)
     * hangs under the parent's context (system context for a top-level category).
     */
    public static function create($data, $editoroptions = null) {
        global $DB;
        $data = (object)$data;
        $new = array('descriptionformat' => 0, 'description' => '');   // FORMAT_MOODLE
        foreach ($data as $key => $value) {
            if (preg_match('/^description/', $key)) {
                $new[$key] = $value;
            }
        }
        if (empty($data->name)) {
            throw new moodle_exception('categorynamerequired', 'error', 'A category name is required.');
        }
        if (iconv_strlen($data->name, 'UTF-8') > 255) {
            throw new moodle_exception('categorytoolong', 'error', 'Category name too long');
        }
        $new['name'] = $data->name;
        if (isset($data->idnumber)) {
            if (iconv_strlen($data->idnumber, 'UTF-8') > 100) {
                throw new moodle_exception('idnumbertoolong', 'error', 'ID number is too long');
            }
            if (strval($data->idnumber) !== '' &&
                    $DB->record_exists_sql("SELECT id FROM {course_categories} WHERE idnumber = ?",
                                           array($data->idnumber))) {
                throw new moodle_exception('categoryidnumbertaken', 'error',
                                           'ID number is already used for another category');
            }
            $new['idnumber'] = $data->idnumber;
        }
        $parent = empty($data->parent) ? self::top() : self::get($data->parent, MUST_EXIST, true);
        $new['parent'] = $parent->id;
        $new['depth'] = $parent->depth + 1;
        if (isset($data->visible) && !$data->visible) {
            $new['visible'] = $new['visibleold'] = 0;
        } else {
            $new['visible'] = $parent->visible;
            $new['visibleold'] = 1;
        }
        // Moodle sets 0 then fix_course_sortorder() renumbers in steps of MAX_COURSES_IN_CATEGORY;
        // putting the new category last is what that gives for a new child.
        $new['sortorder'] = (int)$DB->get_field_sql("SELECT COALESCE(MAX(sortorder), 0) FROM {course_categories}")
                            + 10000;
        $new['coursecount'] = 0;
        $new['timemodified'] = time();
        $new['path'] = '';
        $id = $DB->insert_record('course_categories', $new);
        $DB->execute("UPDATE {course_categories} SET path = ? WHERE id = ?", array($parent->path . '/' . $id, $id));

        context_coursecat::instance($id);
        return self::get($id, MUST_EXIST, true);
    }

    /** Direct children, by sortorder, keyed by id (Moodle filters by visibility to $USER). */
    public function get_children($options = array()) {
        global $DB;
        $rv = array();
        foreach ($DB->get_records('course_categories', array('parent' => $this->id), 'sortorder, id') as $r) {
            $rv[(int)$r->id] = new self($r);
        }
        return $rv;
    }

    /** Any child category, visible or not. */
    public function has_children() {
        global $DB;
        return $DB->record_exists_sql("SELECT id FROM {course_categories} WHERE parent = ?", array($this->id));
    }

    /** Courses directly in this category (not in sub-categories). */
    public function has_courses() {
        global $DB;
        return $DB->record_exists_sql("SELECT 1 FROM {course} WHERE category = ?", array($this->id));
    }

    /**
     * Deletes the category with everything in it (sub-categories first, then its courses), then its
     * row and context. Returns the deleted course records, as Moodle does.
     */
    public function delete_full($showfeedback = true) {
        global $CFG, $DB;
        require_once($CFG->libdir . '/restorelib.php');   // fm_delete_course_data()
        $deleted = array();
        foreach ($DB->get_records('course_categories', array('parent' => $this->id), 'sortorder') as $r) {
            $child = new self($r);
            $deleted = array_merge($deleted, $child->delete_full($showfeedback));
        }
        foreach ($DB->get_records('course', array('category' => $this->id), 'sortorder') as $course) {
            fm_delete_course_data($course);
            $deleted[] = $course;
        }
        $DB->execute("DELETE FROM {course_categories} WHERE id = ?", array($this->id));
        $DB->execute("DELETE FROM {context} WHERE contextlevel = ? AND instanceid = ?",
                     array(FM_CONTEXT_COURSECAT, $this->id));
        return $deleted;
    }
}

/**
 * Moodle's context_coursecat: instance() returns the category's context, and makes it when it is
 * missing (a category inserted by a process killed before its context was), its parent's first.
 */
class context_coursecat {
    public static function instance($categoryid, $strictness = MUST_EXIST) {
        global $DB;
        if ($ctx = fm_context(FM_CONTEXT_COURSECAT, $categoryid)) {
            return $ctx;
        }
        $category = $DB->get_record('course_categories', array('id' => $categoryid));
        if (!$category) {
            if ($strictness == MUST_EXIST) {
                throw new dml_missing_record_exception('course_categories');
            }
            return false;
        }
        $parentctx = $category->parent ? self::instance($category->parent) : fm_context(FM_CONTEXT_SYSTEM, 0);
        return fm_create_context(FM_CONTEXT_COURSECAT, $categoryid, $parentctx);
    }
}
