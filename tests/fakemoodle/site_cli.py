"""The fake site's PHP side as the tool meets it: admin/cli scripts run with php,
the faults they obey (fakemoodle-faults.json), and a clean course delete for
tests. sessionarchiver's CLI backend (moodle/cli.c) and the bridge
(moodle/bridge/) run this PHP."""

import json
import os
import subprocess


def _php_str(s):
    return "'" + str(s).replace("\\", "\\\\").replace("'", "\\'") + "'"


class SiteCli:
    """FakeSite's PHP half: needs site_dir and dataroot."""

    @property
    def faults_file(self):
        return os.path.join(self.site_dir, "fakemoodle-faults.json")

    def faults(self):
        try:
            with open(self.faults_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def set_fault(self, course_id, op, mode):
        """op: 'backup' | 'restore' | 'delete'. course_id: the course id ('*' = any course; for restore
        the ORIGINAL course id found in the archive). mode None removes the fault.
        backup: exit1, enospc (Moodle's temp full), nofile, hang, die, slow:S, cpu:S, fatal, memory:MB
        restore: exception, die-placeholder, die-after-restore, exit1, hang, slow:S, cpu:S, fatal, memory:MB
        delete: exit1, hang, die, slow:S, cpu:S, fatal, memory:MB, deadlock:N (the first N deletes of the
        course throw the dml_write_exception of a MariaDB deadlock)
        Backup faults act in the fake's backup_controller (backup/util/includes/backup_includes.php),
        restore faults in its restore_controller, delete faults in delete_course(): admin/cli scripts
        and the bridge (one-shot or worker) meet them alike.
        fatal: a PHP fatal error ("PHP Fatal error:  Allowed memory size of N bytes exhausted ...",
        on stderr as Debian's php-cli prints it), exit status 255, past every exception handler.
        memory:MB: MB mebibytes allocated and kept until the process ends (peak and current memory
        grow by MB at each operation: a leaking long-lived worker)."""
        all_ = self.faults()
        key = str(course_id)
        if mode is None:
            all_.get(key, {}).pop(op, None)
        else:
            all_.setdefault(key, {})[op] = mode
        tmp = self.faults_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(all_, f)
        os.replace(tmp, self.faults_file)

    @property
    def costs_file(self):
        return os.path.join(self.dataroot, "fakemoodle-costs.json")

    def set_costs(self, bootstrap_ms=0, work_ms=0):
        """Time the fake's PHP waits (milliseconds, wall clock, no CPU): bootstrap_ms once per PHP
        process, in lib/setup.php (what requiring config.php costs; a real Moodle ~400 ms), and
        work_ms once per backup (backup_controller::execute_plan), restore
        (restore_controller::execute_plan) and delete (delete_course()). Read from
        <dataroot>/fakemoodle-costs.json, not the environment: sessionarchiver gives Moodle an
        environment of its own (common/child.c). 0 and 0 remove the file."""
        if not bootstrap_ms and not work_ms:
            try:
                os.unlink(self.costs_file)
            except FileNotFoundError:
                pass
            return
        tmp = self.costs_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"bootstrap_ms": int(bootstrap_ms), "work_ms": int(work_ms)}, f)
        os.replace(tmp, self.costs_file)

    def clear_faults(self):
        try:
            os.unlink(self.faults_file)
        except FileNotFoundError:
            pass

    # ------------------------------------------------------------ running the CLI scripts
    def cli(self, script):
        return os.path.join(self.site_dir, "admin", "cli", script)

    def php(self, script, *args, timeout=120, input=None, **kw):
        """Run `php <site>/admin/cli/<script> args...`; returns CompletedProcess (text)."""
        return subprocess.run(["php", self.cli(script)] + [str(a) for a in args], capture_output=True, text=True,
                              timeout=timeout, input=input, **kw)

    def delete_course(self, course_id, recyclebin=False):
        """Deletes a course the way Moodle's web interface does (course/lib.php loaded, then
        delete_course()), with the recycle bin off unless asked: a clean delete for tests to set
        a scene with, unlike admin/cli/delete_course.php --disablerecyclebin (MOODLE.md).
        Returns the CompletedProcess; raises when PHP fails."""
        code = ("define('CLI_SCRIPT', true); require %s; require_once($CFG->dirroot . '/course/lib.php');"
                " if (!%s) { $CFG->forced_plugin_settings['tool_recyclebin'] ="
                " array('coursebinenable' => 0, 'categorybinenable' => 0); }"
                " $c = $DB->get_record('course', array('id' => %d));"
                " if (!$c) { fwrite(STDERR, 'Course not found'); exit(1); }"
                " delete_course($c, false); fix_course_sortorder();"
                % (_php_str(os.path.join(self.site_dir, "config.php")), "true" if recyclebin else "false",
                   int(course_id)))
        r = subprocess.run(["php", "-r", code], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("delete_course(%d): %s%s" % (course_id, r.stdout, r.stderr))
        return r
