<?php
// fakemoodle: a tiny $DB over mysqli (dbtype mariadb, mysqli) or PDO's pgsql driver (dbtype pgsql,
// php-pgsql). Table names in SQL are written {name} as in Moodle; ? placeholders on both.

class fm_database {
    /** @var mysqli|null */
    public $mysqli;
    /** @var PDO|null */
    public $pdo;
    public $prefix;
    private $quote = '`';

    public function __construct($cfg) {
        $opts = isset($cfg->dboptions) ? $cfg->dboptions : array();
        $socket = !empty($opts['dbsocket']) ? $opts['dbsocket'] : null;
        $port = !empty($opts['dbport']) ? (int)$opts['dbport'] : 0;
        try {
            if ($cfg->dbtype === 'pgsql') {
                // Moodle's pgsql driver: a socket folder serves localhost
                $host = ($socket && $cfg->dbhost === 'localhost') ? $socket : $cfg->dbhost;
                $this->pdo = new PDO('pgsql:host=' . $host . ';port=' . ($port ?: 5432) . ';dbname=' . $cfg->dbname,
                                     $cfg->dbuser, $cfg->dbpass,
                                     array(PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
                                           PDO::ATTR_EMULATE_PREPARES => false));
                $this->pdo->exec("SET client_encoding = 'UTF8'");
                $this->quote = '"';
            } else {
                mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
                $this->mysqli = new mysqli($cfg->dbhost, $cfg->dbuser, $cfg->dbpass, $cfg->dbname, $port, $socket);
                $this->mysqli->set_charset('utf8mb4');
            }
        } catch (mysqli_sql_exception | PDOException $e) {
            // Moodle: "Database connection failed" / dbconnectionfailed.
            echo "!!! Database connection failed !!!\n";
            echo "It is possible that the database is overloaded or otherwise not running properly.\n";
            exit(1);
        }
        $this->prefix = $cfg->prefix;
    }

    public function fix($sql) {
        $p = $this->prefix;
        $q = $this->quote;
        return preg_replace_callback('/\{([a-z][a-z0-9_]*)\}/', function ($m) use ($p, $q) {
            return $q . $p . $m[1] . $q;
        }, $sql);
    }

    /** A column name quoted for the server. */
    private function col($c) {
        return $this->quote . $c . $this->quote;
    }

    /** The rows of a statement, as objects; [] for a statement without rows. */
    private function rows($sql, array $params, $mode) {
        $sql = $this->fix($sql);
        if ($this->pdo) {
            $st = $this->pdo->prepare($sql);
            $st->execute(array_values($params));
            if ($st->columnCount() == 0) {
                return array();
            }
            return $st->fetchAll($mode === 'num' ? PDO::FETCH_NUM : PDO::FETCH_OBJ);
        }
        $res = $this->mysqli->execute_query($sql, array_values($params));
        $out = array();
        if ($res === true) {
            return $out;
        }
        while ($row = ($mode === 'num' ? $res->fetch_row() : $res->fetch_object())) {
            $out[] = $row;
        }
        return $out;
    }

    public function get_records_sql($sql, array $params = array()) {
        return $this->rows($sql, $params, 'obj');
    }

    public function get_record_sql($sql, array $params = array()) {
        $rows = $this->get_records_sql($sql, $params);
        return $rows ? $rows[0] : false;
    }

    public function get_field_sql($sql, array $params = array()) {
        $rows = $this->rows($sql, $params, 'num');
        return $rows ? $rows[0][0] : false;
    }

    private function where(array $conds, &$params) {
        $w = array();
        foreach ($conds as $k => $v) {
            if ($v === null) {
                $w[] = $this->col($k) . " IS NULL";
            } else {
                $w[] = $this->col($k) . " = ?";
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
            $sql .= ' LIMIT ' . (int)$limitnum . ' OFFSET ' . (int)$limitfrom;
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
            $cols[] = $this->col($c);
        }
        $q = implode(',', array_fill(0, count($row), '?'));
        $sql = "INSERT INTO {{$table}} (" . implode(',', $cols) . ") VALUES ($q)";
        if ($this->pdo) {
            return (int)$this->get_field_sql($sql . ' RETURNING id', array_values($row));
        }
        $this->rows($sql, array_values($row), 'obj');
        return (int)$this->mysqli->insert_id;
    }

    public function update_record($table, $row) {
        $row = (array)$row;
        $id = $row['id'];
        unset($row['id']);
        $sets = array();
        foreach (array_keys($row) as $c) {
            $sets[] = $this->col($c) . " = ?";
        }
        $params = array_values($row);
        $params[] = $id;
        $this->rows("UPDATE {{$table}} SET " . implode(',', $sets) . " WHERE id = ?", $params, 'obj');
    }

    public function execute($sql, array $params = array()) {
        $this->rows($sql, $params, 'obj');
        return true;
    }

    public function table_exists($table) {
        $schema = $this->pdo ? 'current_schema()' : 'DATABASE()';
        return (bool)$this->get_field_sql("SELECT COUNT(*) FROM information_schema.tables
                                            WHERE table_schema = $schema AND table_name = ?",
                                           array($this->prefix . $table));
    }

    public function get_config($name) {
        return $this->get_field_sql("SELECT value FROM {config} WHERE name = ?", array($name));
    }
}
