"""Fixtures that start real servers for the integration tests and always
stop them: a private MariaDB (mariadb) and PostgreSQL (postgres; moodle_server
is either, a test taking it runs on both), an SMTP server (smtp), FUSE mounts
(fusemount), and where the built programs are (build)."""
