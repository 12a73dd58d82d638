"""The fault-injection matrix on a fresh local plane: every Task state x {transient, permanent, timeout}.

    .venv/bin/python bench/fault_matrix.py [--state NAME]... [--kind KIND]...
    .venv/bin/python bench/fault_matrix.py --write-doc

Runs each cell of tests/support/fault_matrix.py's EXPECTED table on the real state machine (time scale
0.1, one cell after another) and prints cell, expected, actual and whether they match, then the totals
"N cells, M match"; exit status 1 when a cell differs, 2 for a bad argument. ``--write-doc`` only
regenerates the expected table in docs/fault-matrix.md from that same Python structure.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIME_SCALE = 0.1


def _summary(outcome: object) -> str:
    from tests.support.fault_matrix import Outcome

    assert isinstance(outcome, Outcome)
    status = outcome.status + (f" {outcome.error}" if outcome.error else "")
    return (
        f"{status}; next {outcome.after}; preprod {outcome.preprod}; prod {outcome.prod}; "
        f"locks {outcome.locks}; frozen {outcome.frozen}; notice {outcome.notices}"
    )


def _quiet() -> None:
    """Only the table on the terminal: the handlers' JSON logs and moto's engine traces say it again."""
    import logging

    logging.disable(logging.CRITICAL)


def main(argv: list[str] | None = None) -> int:
    sys.path[:0] = [str(ROOT)]
    from tests.support import fault_matrix

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--state", action="append", default=[], help="only this Task state (repeatable)")
    parser.add_argument("--kind", action="append", default=[], choices=fault_matrix.KINDS)
    parser.add_argument(
        "--write-doc", action="store_true", help="regenerate docs/fault-matrix.md's table, run nothing"
    )
    args = parser.parse_args(argv)

    unknown = set(args.state) - {cell.state for cell in fault_matrix.EXPECTED}
    if unknown:
        print(f"fault_matrix: no such Task state: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if args.write_doc:
        text = fault_matrix.DOC_FILE.read_text()
        fault_matrix.DOC_FILE.write_text(fault_matrix.doc_with_block(text, fault_matrix.render_block()))
        print(f"wrote the expected table ({len(fault_matrix.EXPECTED)} cells) to {fault_matrix.DOC_FILE}")
        return 0

    cells = [
        cell
        for cell in fault_matrix.EXPECTED
        if (not args.state or cell.state in args.state) and (not args.kind or cell.kind in args.kind)
    ]
    from promote_cli.local.plane import LocalControlPlane, PlaneOptions

    plane = LocalControlPlane(PlaneOptions(time_scale=TIME_SCALE))
    plane.start()
    _quiet()
    started = time.perf_counter()
    width = max(len(cell.label) for cell in cells)

    def report(result: fault_matrix.CellResult) -> None:
        verdict = "match" if result.matches else "DIFFERS"
        print(f"{result.cell.label:{width}}  {verdict:7}  {result.seconds:5.1f} s", flush=True)
        print(f"{'':{width}}  expected {_summary(result.cell.expected)}")
        if not result.matches:
            print(f"{'':{width}}  actual   {_summary(result.actual)}")
            for difference in result.differences():
                print(f"{'':{width}}    - {difference}")
        print(flush=True)

    try:
        results = fault_matrix.run_matrix(plane, cells, on_result=report)
    finally:
        plane.stop()
    matching = sum(1 for result in results if result.matches)
    print(f"{len(results)} cells, {matching} match ({time.perf_counter() - started:.0f} s)")
    return 0 if matching == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
