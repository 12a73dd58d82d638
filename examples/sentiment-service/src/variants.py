"""Which build this is, and the one place where a test variant changes the service's behaviour.

CI writes ``build_info.py`` at the package root (``SHA``, ``VARIANT``); a package without it (a local run, the
bootstrap deploy) is the ``bootstrap`` build of the ``good`` variant.

Variants exist so the control plane's demo and tests can promote builds that fail at a known point:

* ``good``: everything correct.
* ``fails-preprod``: ``/score`` labels every text ``negative``, so preprod's integration checks fail.
* ``fails-in-prod``: exactly ``good`` unless ``STAGE`` is ``prod``, where a (simulated) prod-only dependency
  is down: scoring raises and the worker's health check answers 500, so the prod canary fails.
* ``slow-in-prod``: exactly ``good`` unless ``STAGE`` is ``prod``, where every ``/score`` takes
  ``SLOW_SCORE_SECONDS`` longer (a slow prod-only dependency): its checks pass and no error is raised, but
  its p99 Duration regresses far beyond any canary analysis margin.
* ``errors-in-prod``: exactly ``good`` unless ``STAGE`` is ``prod``, where a text with any non-ASCII
  character goes through a (simulated) prod-only normaliser that is broken: scoring it raises (a Lambda
  error; the API answers 500). The pipeline's checks, the service's own tests and its hook send
  only ASCII texts and pass; only users' traffic fails, and the canary analysis judges its error rate.
* ``fails-own-tests``: ``/score`` answers a blank text with a neutral score instead of refusing it; the
  pipeline's HTTP checks never send one and pass, the service's own test Lambda (``selftest``) fails in
  preprod.
* ``fails-own-tests-in-prod``: exactly ``good`` unless ``STAGE`` is ``prod``, where ``/score`` takes a blank
  text as ``fails-own-tests`` does: the HTTP checks, the hook and every test in preprod pass; in prod the
  test Lambda, which calls the new version before traffic shifts, fails it.
* ``fails-pre-traffic``: exactly ``good``, except that in ``prod`` the build's pre-traffic hook finds a
  (simulated) schema migration missing, so prod is rolled back before any traffic moves.
"""

from __future__ import annotations

import os
import time

import scoring

try:
    import build_info

    SHA = str(build_info.SHA)
    VARIANT = str(build_info.VARIANT)
except ImportError:
    SHA = "bootstrap"
    VARIANT = "good"

SLOW_SCORE_SECONDS = 0.2


class DependencyUnavailable(RuntimeError):
    """The prod-only dependency of the ``fails-in-prod`` variant is down."""


class NormaliserFailed(RuntimeError):
    """The prod-only text normaliser of the ``errors-in-prod`` variant refused a non-ASCII text."""


def describe() -> dict[str, str]:
    """The build fields every health answer carries."""
    return {"version": SHA, "variant": VARIANT}


def check_dependencies() -> None:
    """Raise ``DependencyUnavailable`` when this build simulates a prod-only dependency that is down."""
    if VARIANT == "fails-in-prod" and os.environ.get("STAGE") == "prod":
        raise DependencyUnavailable("prod-only dependency is unavailable (fails-in-prod build)")


def refuses_blank_text() -> bool:
    """Whether `/score` refuses a blank text (not `fails-own-tests`; `fails-own-tests-in-prod` in prod)."""
    if VARIANT == "fails-own-tests-in-prod":
        return os.environ.get("STAGE") != "prod"
    return VARIANT != "fails-own-tests"


def missing_migrations(stage: str) -> list[str]:
    """The schema migrations this build needs that ``stage`` lacks (what the pre-traffic hook checks)."""
    return ["0042_add_language_column"] if VARIANT == "fails-pre-traffic" and stage == "prod" else []


def analyse(text: str) -> dict[str, float | str]:
    """Score ``text`` as this build does: the only path from the handlers to the scorer."""
    check_dependencies()
    if VARIANT == "slow-in-prod" and os.environ.get("STAGE") == "prod":
        time.sleep(SLOW_SCORE_SECONDS)
    if VARIANT == "errors-in-prod" and os.environ.get("STAGE") == "prod" and not text.isascii():
        raise NormaliserFailed("prod text normaliser cannot handle non-ASCII text (errors-in-prod build)")
    result = scoring.analyse(text)
    if VARIANT == "fails-preprod":
        result["label"] = "negative"
    return result
