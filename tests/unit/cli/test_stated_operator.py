"""The name a command states as its operator: the user's, or "unknown" where the uid has no name."""

from __future__ import annotations

import getpass

import pytest

from promote_cli.control import stated_operator


def test_it_is_the_users_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "alice")
    assert stated_operator() == getpass.getuser() == "alice"


def test_a_uid_without_a_name_states_unknown_instead_of_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    # A container run as an arbitrary uid: no LOGNAME/USER/LNAME/USERNAME and no passwd entry.
    def no_name() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", no_name)
    assert stated_operator() == "unknown"
