"""Integration tests: real MariaDB, real SMTP, real FUSE mounts, the fake
Moodle site. The fixtures live in harness/; the fake site in
tests/fakemoodle/."""
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

pytest_plugins = ["harness.build", "harness.fusemount", "harness.mariadb",
                  "harness.smtp"]
