"""Fake Moodle 4.5.6 site for the integration tests (see fakesite.py)."""
