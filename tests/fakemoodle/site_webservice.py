"""The fake site's web services: the tables behind a token (external_services,
external_services_functions, external_tokens) that webservice/rest/server.php
checks. sessionarchiver's web-service backend (moodle/webservice.c) calls it."""

import secrets
import time


class SiteWebService:
    """FakeSite's web-service half: needs query()."""

    WS_FUNCTIONS = ("core_webservice_get_site_info", "core_course_get_categories",
                    "core_course_get_courses_by_field", "core_course_get_contents")

    def create_ws_token(self, functions=WS_FUNCTIONS, token=None, service="sessionarchiver"):
        """A permanent web-service token of the admin (user 2) for a service allowing `functions`, as
        Moodle's admin/webservice/tokens.php makes one (tables external_services, external_services_functions,
        external_tokens, created here when missing). Returns the token (32 hex digits unless given).
        Serve the site with `php -S 127.0.0.1:PORT -t site_dir`: webservice/rest/server.php checks it."""
        for sql in (
            "CREATE TABLE IF NOT EXISTS {external_services} (id bigint(10) NOT NULL AUTO_INCREMENT,"
            " name varchar(200) NOT NULL, enabled tinyint(1) NOT NULL DEFAULT 0,"
            " requiredcapability varchar(150) DEFAULT NULL, restrictedusers tinyint(1) NOT NULL DEFAULT 0,"
            " component varchar(100) DEFAULT NULL, timecreated bigint(10) NOT NULL DEFAULT 0,"
            " timemodified bigint(10) DEFAULT NULL, shortname varchar(255) DEFAULT NULL,"
            " downloadfiles tinyint(1) NOT NULL DEFAULT 0, uploadfiles tinyint(1) NOT NULL DEFAULT 0,"
            " PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
            "CREATE TABLE IF NOT EXISTS {external_services_functions} (id bigint(10) NOT NULL AUTO_INCREMENT,"
            " externalserviceid bigint(10) NOT NULL, functionname varchar(200) NOT NULL DEFAULT '',"
            " PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
            "CREATE TABLE IF NOT EXISTS {external_tokens} (id bigint(10) NOT NULL AUTO_INCREMENT,"
            " token varchar(128) NOT NULL DEFAULT '', privatetoken varchar(64) DEFAULT NULL,"
            " tokentype smallint(4) NOT NULL, userid bigint(10) NOT NULL, externalserviceid bigint(10) NOT NULL,"
            " sid varchar(128) DEFAULT NULL, contextid bigint(10) NOT NULL, creatorid bigint(10) NOT NULL DEFAULT 1,"
            " iprestriction varchar(255) DEFAULT NULL, validuntil bigint(10) DEFAULT NULL,"
            " timecreated bigint(10) NOT NULL, lastaccess bigint(10) DEFAULT NULL, name varchar(255) DEFAULT NULL,"
            " PRIMARY KEY (id), KEY token_ix (token)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
            " COLLATE=utf8mb4_unicode_ci"):
            self.query(self.ddl(sql))
        now = int(time.time())
        sid = self.query("INSERT INTO {external_services} (name, enabled, restrictedusers, timecreated, shortname,"
                         " downloadfiles, uploadfiles) VALUES (%s, 1, 0, %s, %s, 0, 0)", (service, now, service))
        for f in functions:
            self.query("INSERT INTO {external_services_functions} (externalserviceid, functionname) VALUES (%s, %s)",
                       (sid, f))
        token = token or secrets.token_hex(16)
        self.query("INSERT INTO {external_tokens} (token, privatetoken, tokentype, userid, externalserviceid,"
                   " contextid, creatorid, timecreated, name) VALUES (%s, %s, 0, 2, %s, 1, 2, %s, %s)",
                   (token, secrets.token_hex(32), sid, now, service))
        return token
