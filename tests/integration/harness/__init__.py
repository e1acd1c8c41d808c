"""Fixtures that start real servers for the integration tests and always
stop them: a private MariaDB (mariadb), an SMTP server (smtp), FUSE mounts
(fusemount), and where the built programs are (build)."""
