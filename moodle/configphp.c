/*
 * configphp: the database settings of a platform, from its config.php or
 * from the configured db URL and password file.
 *
 * config.php is evaluated by php itself with ABORT_AFTER_CONFIG (Moodle
 * stops right after its settings, before any connection: no side effect)
 * and the settings are printed as JSON behind a marker. What php prints
 * holds dbpass: it is wiped, never shown, only described.
 */
#include "platform.h"
#include "sql.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "xalloc.h"

/* cap on what php prints while reading config.php */
#define PHP_OUTPUT_MAX (64 * 1024)
#define PHP_TIMEOUT_S 30

#define CONFIG_MARKER "sessionarchiver-config:"

void moodle_settings_release(struct moodle_settings *s)
{
	if (s->pass) {
		explicit_bzero(s->pass, strlen(s->pass));
		free(s->pass);
	}
	free(s->type);
	free(s->host);
	free(s->name);
	free(s->user);
	free(s->prefix);
	free(s->socket);
	free(s->wwwroot);
	free(s->dataroot);
	memset(s, 0, sizeof(*s));
}

/*
 * Evaluated by php -r with config.php's path as $argv[1]. Moodle's
 * lib/setup.php returns right after the settings when ABORT_AFTER_CONFIG is
 * defined. Whatever config.php prints is dropped; the settings follow the
 * marker on the last line.
 */
static const char php_code[] =
	"define('CLI_SCRIPT', true);"
	"define('ABORT_AFTER_CONFIG', true);"
	"ob_start();"
	"require $argv[1];"
	"while (ob_get_level() > 0) { ob_end_clean(); }"
	"$o = (isset($CFG->dboptions) && is_array($CFG->dboptions))"
	" ? $CFG->dboptions : array();"
	"$v = array();"
	"foreach (array('dbtype', 'dbhost', 'dbname', 'dbuser', 'dbpass',"
	" 'prefix', 'wwwroot', 'dataroot') as $k) {"
	" $v[$k] = isset($CFG->$k) ? $CFG->$k : null; }"
	"$v['dbport'] = isset($o['dbport']) ? $o['dbport'] : null;"
	"$v['dbsocket'] = isset($o['dbsocket']) ? $o['dbsocket'] : null;"
	"echo \"\\n" CONFIG_MARKER "\", json_encode($v), \"\\n\";";

/*
 * A setting as a string: strings as they are, integers in decimal, null,
 * false and "" as NULL. Returns -1 for other types.
 */
static int json_setting(json_t *v, char **out)
{
	*out = NULL;
	if (!v || json_is_null(v) || json_is_false(v))
		return 0;
	if (json_is_string(v)) {
		if (json_string_length(v) > 0)
			*out = xstrndup(json_string_value(v),
					json_string_length(v));
		return 0;
	}
	if (json_is_integer(v)) {
		*out = xasprintf("%lld", (long long)json_integer_value(v));
		return 0;
	}
	return -1;
}

static int parse_php_settings(const char *json, const char *cfgphp,
			      struct moodle_settings *s, char *err,
			      size_t errlen)
{
	static const char *const keys[] = { "dbtype", "dbhost",	  "dbname",
					    "dbuser", "dbpass",	  "prefix",
					    "wwwroot", "dataroot", "dbport",
					    "dbsocket" };
	char *vals[sizeof(keys) / sizeof(keys[0])] = { 0 };
	unsigned long long port = 0;
	json_error_t jerr;
	json_t *root;
	size_t i;
	int ret = -1;

	root = json_loads(json, JSON_DISABLE_EOF_CHECK, &jerr);
	if (!root || !json_is_object(root)) {
		/* jerr may quote the text: never show it, it holds dbpass */
		snprintf(err, errlen, "cannot read the settings of '%s': "
			 "php printed no valid JSON", cfgphp);
		goto out;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(root, keys[i]);

		/* dbsocket may be true: the client library's default socket */
		if (!strcmp(keys[i], "dbsocket") && json_is_true(v))
			continue;
		if (json_setting(v, &vals[i]) < 0) {
			snprintf(err, errlen, "bad $CFG->%s in '%s': expected "
				 "a string", keys[i], cfgphp);
			goto out;
		}
	}
	if (vals[8] && config_parse_uint(vals[8], 0, 65535, &port) < 0) {
		snprintf(err, errlen, "bad dboptions 'dbport' in '%s': "
			 "expected a port number", cfgphp);
		goto out;
	}
	s->type = vals[0];
	s->host = vals[1];
	s->name = vals[2];
	s->user = vals[3];
	s->pass = vals[4];
	s->prefix = vals[5];
	s->wwwroot = vals[6];
	s->dataroot = vals[7];
	s->socket = vals[9];
	s->port = (unsigned)port;
	free(vals[8]);
	memset(vals, 0, sizeof(vals));
	if (!sql_driver_of(s->type)) {
		snprintf(err, errlen, "'%s': %s platforms are not supported "
			 "(dbtype must be mysqli, mariadb, auroramysql or "
			 "pgsql)",
			 cfgphp, s->type ? s->type : "(no dbtype)");
		goto out;
	}
	if (!s->name || !s->user) {
		snprintf(err, errlen, "'%s' sets no %s", cfgphp,
			 !s->name ? "$CFG->dbname" : "$CFG->dbuser");
		goto out;
	}
	ret = 0;
out:
	if (vals[4])
		explicit_bzero(vals[4], strlen(vals[4]));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		free(vals[i]);
	json_decref(root);
	return ret;
}

int moodle_settings_from_php(const struct config_platform *p,
			     struct moodle_settings *s, char *err,
			     size_t errlen)
{
	struct child_result res = { 0 };
	struct child_opts opts = { 0 };
	char *argv[6] = { 0 };
	char how[128];
	char *cfgphp, *json;
	struct stat st;
	int ret = -1;

	if (!p->moodle) {
		snprintf(err, errlen, "no Moodle directory: set 'moodle' "
			 "(or 'db' and 'db_password_file')");
		return -1;
	}
	cfgphp = xasprintf("%s/config.php", p->moodle);
	if (stat(cfgphp, &st) < 0 || access(cfgphp, R_OK) < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", cfgphp,
			 strerror(errno));
		goto out;
	}
	argv[0] = p->php;
	argv[1] = "-r";
	argv[2] = (char *)php_code;
	argv[3] = "--";
	argv[4] = cfgphp;
	opts.argv = argv;
	opts.envp = child_default_env;
	opts.cwd = p->moodle;
	opts.out_fd = -1;
	opts.capture_cap = PHP_OUTPUT_MAX;
	opts.timeout_s = PHP_TIMEOUT_S;
	opts.own_group = true;
	if (child_run(&opts, &res) < 0) {
		snprintf(err, errlen, "cannot run '%s': %s", p->php,
			 strerror(errno));
		goto out_release;
	}
	/* the output holds dbpass: it is never shown, only described */
	json = NULL;
	if (!res.truncated && res.output)
		json = strstr(res.output, "\n" CONFIG_MARKER);
	if (!child_ok(&res) || !json) {
		snprintf(err, errlen, "cannot read the settings of '%s': "
			 "'%s' ended with %s%s", cfgphp, p->php,
			 child_describe(&res, PHP_TIMEOUT_S, how, sizeof(how)),
			 child_ok(&res) ? " without printing them" : "");
		goto out_release;
	}
	ret = parse_php_settings(json + strlen("\n" CONFIG_MARKER), cfgphp, s,
				 err, errlen);
out_release:
	if (res.output)
		explicit_bzero(res.output, res.output_len);
	child_result_release(&res);
out:
	free(cfgphp);
	return ret;
}

int moodle_settings_from_url(const struct config_platform *p,
			     struct moodle_settings *s, char *err,
			     size_t errlen)
{
	s->type = xstrdup(p->db.kind == CONFIG_DB_POSTGRESQL ? "pgsql"
							     : "mysqli");
	s->host = xstrdup(p->db.host);
	s->name = xstrdup(p->db.name);
	s->user = xstrdup(p->db.user);
	s->port = p->db.port;
	s->socket = p->db.socket ? xstrdup(p->db.socket) : NULL;
	s->wwwroot = p->url ? xstrdup(p->url) : NULL;
	/* without config.php, Moodle's default prefix */
	s->prefix = xstrdup("mdl_");
	if (p->db_password_file &&
	    config_read_secret(p->db_password_file, &s->pass, err, errlen) < 0)
		return -1;
	return 0;
}
