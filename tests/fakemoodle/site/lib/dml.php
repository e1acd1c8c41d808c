<?php
// fakemoodle: a tiny $DB over mysqli. Table names in SQL are written {name} as in Moodle.

class fm_database {
    /** @var mysqli */
    public $mysqli;
    public $prefix;

    public function __construct($cfg) {
        mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
        $opts = isset($cfg->dboptions) ? $cfg->dboptions : array();
        $socket = !empty($opts['dbsocket']) ? $opts['dbsocket'] : null;
        $port = !empty($opts['dbport']) ? (int)$opts['dbport'] : 0;
        try {
            $this->mysqli = new mysqli($cfg->dbhost, $cfg->dbuser, $cfg->dbpass, $cfg->dbname, $port, $socket);
        } catch (mysqli_sql_exception $e) {
            // Moodle: "Database connection failed" / dbconnectionfailed.
            echo "!!! Database connection failed !!!\n";
            echo "It is possible that the database is overloaded or otherwise not running properly.\n";
            exit(1);
        }
        $this->mysqli->set_charset('utf8mb4');
        $this->prefix = $cfg->prefix;
    }

    public function fix($sql) {
        $p = $this->prefix;
        return preg_replace_callback('/\{([a-z][a-z0-9_]*)\}/', function ($m) use ($p) {
            return '`' . $p . $m[1] . '`';
        }, $sql);
    }

    public function query($sql, array $params = array()) {
        return $this->mysqli->execute_query($this->fix($sql), array_values($params));
    }

    public function get_records_sql($sql, array $params = array()) {
        $res = $this->query($sql, $params);
        $out = array();
        while ($row = $res->fetch_object()) {
            $out[] = $row;
        }
        return $out;
    }

    public function get_record_sql($sql, array $params = array()) {
        $rows = $this->get_records_sql($sql, $params);
        return $rows ? $rows[0] : false;
    }

    public function get_field_sql($sql, array $params = array()) {
        $res = $this->query($sql, $params);
        $row = $res->fetch_row();
        return $row ? $row[0] : false;
    }

    private function where(array $conds, &$params) {
        $w = array();
        foreach ($conds as $k => $v) {
            if ($v === null) {
                $w[] = "`$k` IS NULL";
            } else {
                $w[] = "`$k` = ?";
                $params[] = $v;
            }
        }
        return $w ? ' WHERE ' . implode(' AND ', $w) : '';
    }

    /** $strictness MUST_EXIST: a missing record throws dml_missing_record_exception. */
    public function get_record($table, array $conds, $fields = '*', $strictness = 0) {
        $params = array();
        $record = $this->get_record_sql("SELECT $fields FROM {{$table}}" . $this->where($conds, $params)
                                        . " ORDER BY id", $params);
        if (!$record && $strictness === MUST_EXIST) {
            throw new dml_missing_record_exception($table);
        }
        return $record;
    }

    public function get_records($table, array $conds = array(), $sort = 'id') {
        $params = array();
        return $this->get_records_sql("SELECT * FROM {{$table}}" . $this->where($conds, $params) . " ORDER BY $sort", $params);
    }

    /** Moodle's get_records_select(): $select is a WHERE clause with ? placeholders. */
    public function get_records_select($table, $select, ?array $params = null, $sort = '', $fields = '*',
                                       $limitfrom = 0, $limitnum = 0) {
        $sql = "SELECT $fields FROM {{$table}}" . ($select !== '' ? " WHERE $select" : '')
             . ($sort !== '' ? " ORDER BY $sort" : '');
        if ($limitnum) {
            $sql .= ' LIMIT ' . (int)$limitfrom . ', ' . (int)$limitnum;
        }
        return $this->get_records_sql($sql, (array)$params);
    }

    public function record_exists_sql($sql, array $params = array()) {
        return (bool)$this->get_record_sql($sql, $params);
    }

    public function insert_record($table, $row) {
        $row = (array)$row;
        unset($row['id']);
        $cols = array();
        foreach (array_keys($row) as $c) {
            $cols[] = "`$c`";
        }
        $q = implode(',', array_fill(0, count($row), '?'));
        $this->query("INSERT INTO {{$table}} (" . implode(',', $cols) . ") VALUES ($q)", array_values($row));
        return (int)$this->mysqli->insert_id;
    }

    public function update_record($table, $row) {
        $row = (array)$row;
        $id = $row['id'];
        unset($row['id']);
        $sets = array();
        foreach (array_keys($row) as $c) {
            $sets[] = "`$c` = ?";
        }
        $params = array_values($row);
        $params[] = $id;
        $this->query("UPDATE {{$table}} SET " . implode(',', $sets) . " WHERE id = ?", $params);
    }

    public function execute($sql, array $params = array()) {
        $this->query($sql, $params);
        return true;
    }

    public function table_exists($table) {
        return (bool)$this->get_field_sql("SELECT COUNT(*) FROM information_schema.tables
                                            WHERE table_schema = DATABASE() AND table_name = ?",
                                           array($this->prefix . $table));
    }

    public function get_config($name) {
        return $this->get_field_sql("SELECT value FROM {config} WHERE name = ?", array($name));
    }
}
