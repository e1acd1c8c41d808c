"""Integration tests: real MariaDB, real SMTP, real FUSE mounts, the fake
Moodle site. The fixtures live in harness/; the fake site in
tests/fakemoodle/."""
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "fakemoodle"))

pytest_plugins = ["harness.build", "harness.fusemount", "harness.mariadb",
                  "harness.postgres",
                  "harness.smtp"]
# shared helpers, no fixtures: their asserts are reported like the tests'
pytest.register_assert_rewrite("harness.platforms", "harness.moodletest")
