"""Benchmark: a happy-path and a rollback-path promotion on the local plane, and handler cold imports.

    .venv/bin/python bench/promotion_bench.py [--runs N] [--cold-import-only] [--python PATH]

Prints, per path: wall time, state transitions counted from the execution history (states entered plus
retry attempts, as Step Functions bills them), and their cost at $0.025 per 1,000 transitions.

Then each function's cold import (Lambda bills the INIT phase): its handler module imported in a fresh
interpreter, median of N, next to ``import boto3`` alone, with the ratio marked when above 1.5x.
Each import runs with the environment Lambda gives the function and nothing of this shell's: the runtime's
variables (``LAMBDA_TASK_ROOT``, ``AWS_EXECUTION_ENV``, ``AWS_LAMBDA_FUNCTION_NAME``, the X-Ray daemon's
address, ...), then template.yaml's Globals and the function's own variables, read from the template so the
benchmark imports with the same ``POWERTOOLS_*`` and ``PYDANTIC_*`` settings as the deployed code. Tracing
stays on, as ``Tracing: Active`` deploys it. Why it matters: libraries branch on these variables. The X-Ray
SDK behind powertools' Tracer takes a different, much heavier import path outside Lambda (about 3x the CPU
time here), so a benchmark run in a plain shell measures a cost Lambda never pays and hides the ones it does.
The ratio is on CPU time of the importing process: this machine is shared, and CPU time is what other
people's load does not inflate; wall time is printed next to it. Numbers from one run on one machine:
compare ratios, not absolutes. ``--python`` imports with another interpreter, such as a python3.13 virtualenv
with the layer's requirements (Lambda's runtime version; the numbers differ between Python versions).

Inside Lambda the layer pauses the garbage collector for INIT (promotion/cold_start.py); the handler rows
include that, and a last row prints what the pause saves on one function.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _support import PRICE_PER_TRANSITION, ROOT, RemotePlane, transitions

# Each handler's cold import may cost at most this many times `import boto3` alone.
TARGET_RATIO = 1.5
# The interpreter each cold import runs in (--python).
python_executable = sys.executable


def run_promotions() -> list[tuple[str, float, int, str]]:
    import tempfile

    sys.path[:0] = [str(ROOT)]
    from promote_cli.local.demo import LocalPlaneProcess
    from tests.support.promotion import (
        decide_via_link,
        history,
        publish_and_start,
        wait_for_approval_links,
        wait_for_end,
    )

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")
    state = tempfile.mkdtemp(prefix="promote-bench-")
    process = LocalPlaneProcess(Path(state))
    plane: Any = RemotePlane(process.wait_ready())
    rows = []
    try:
        for label, variant in (
            ("happy path (approved, 4 s bake)", "good"),
            ("rollback path (canary fails)", "fails-in-prod"),
        ):
            started = time.perf_counter()
            promotion = publish_and_start(plane, variant=variant)
            links = wait_for_approval_links(plane, promotion)
            decide_via_link(links[0], "approve")
            status = wait_for_end(plane, promotion.execution_arn, timeout=120)["status"]
            elapsed = time.perf_counter() - started
            rows.append((label, elapsed, transitions(history(plane, promotion.execution_arn)), status))
    finally:
        process.stop()
    return rows


# What Lambda's python3.13 runtime sets in every execution environment before it imports the handler
# (docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime), with
# Tracing: Active (the X-Ray daemon's address). The function's own name, handler and log group are added
# per function below; credentials are placeholders (nothing is called during import).
LAMBDA_RUNTIME_ENVIRONMENT = {
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
    "_AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129",
    "_AWS_XRAY_DAEMON_PORT": "2000",
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
}
PSEUDO_PARAMETERS = {
    "AWS::StackName": "bench",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


@dataclass(frozen=True)
class LambdaFunction:
    name: str
    module_file: Path
    environment: dict[str, str]
    logical_id: str = ""
    memory_mb: int = 512


def _placeholder(reference: str, parameters: dict[str, Any]) -> str:
    """A stand-in for what a ``Ref``/``GetAtt`` resolves to once deployed: a pseudo parameter's value, a
    parameter's default, or a name derived from the resource (its value is not read during import)."""
    if reference in PSEUDO_PARAMETERS:
        return PSEUDO_PARAMETERS[reference]
    if reference in parameters:
        return str(parameters[reference].get("Default", f"bench-{reference}"))
    return f"bench-{reference.replace('.', '-')}"


def _resolve(value: Any, parameters: dict[str, Any]) -> str:
    if isinstance(value, dict) and "Ref" in value:
        return _placeholder(value["Ref"], parameters)
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return _placeholder(".".join(target) if isinstance(target, list) else target, parameters)
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return re.sub(r"\$\{([^}!]+)\}", lambda match: _placeholder(match[1], parameters), value["Fn::Sub"])
    if isinstance(value, str | int | float | bool):
        return str(value)
    raise ValueError(f"template.yaml: environment value {value!r} is not one this benchmark can stand in for")


def template_functions() -> list[LambdaFunction]:
    """Every function of template.yaml with the environment Lambda would give it: the runtime's variables,
    the template's Globals, then the function's own (the template is the one source of truth)."""
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse((ROOT / "template.yaml").read_text())
    parameters = template.get("Parameters", {})
    global_variables = template["Globals"]["Function"].get("Environment", {}).get("Variables", {})
    functions = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        module_name = properties["Handler"].rpartition(".")[0]
        variables = {**global_variables, **properties.get("Environment", {}).get("Variables", {})}
        function_name = f"bench-{logical_id}"
        environment = {
            **LAMBDA_RUNTIME_ENVIRONMENT,
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(properties.get("MemorySize", 512)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
            "_HANDLER": properties["Handler"],
            **{name: _resolve(value, parameters) for name, value in variables.items()},
        }
        module_file = ROOT / properties["CodeUri"] / f"{module_name}.py"
        functions.append(
            LambdaFunction(
                Path(properties["CodeUri"]).name,
                module_file,
                environment,
                logical_id=logical_id,
                memory_mb=int(environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]),
            )
        )
    return sorted(functions, key=lambda function: function.name)


# What every handler needs before any code of ours: boto3, pydantic with one model, and powertools'
# Logger, Metrics and Tracer as promotion.observability creates them (Tracer patching botocore). A handler's
# CPU above this floor is the part its own imports decide.
FLOOR_BODY = (
    "import boto3, pydantic; "
    "from aws_lambda_powertools import Logger, Metrics, Tracer; "
    "from aws_lambda_powertools.utilities.typing import LambdaContext; "
    "Logger(); Metrics(); Tracer(patch_modules=('botocore',)); "
    "type('Model', (pydantic.BaseModel,), {'__annotations__': {'name': str}}).model_validate({'name': 'x'})"
)


def _handler_body(module_file: Path) -> str:
    return (
        f"spec = importlib.util.spec_from_file_location('app', {str(module_file)!r}); "
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)"
    )


def _import_once(
    module_file: Path | None, environment: dict[str, str], *, body: str = ""
) -> tuple[float, float]:
    """Wall and CPU seconds of one import in a fresh interpreter: the handler module, ``body`` when given,
    or boto3 alone."""
    if not body:
        body = "import boto3" if module_file is None else _handler_body(module_file)
    code = (
        "import importlib.util, time; wall, cpu = time.perf_counter(), time.process_time(); "
        f"{body}; print(time.perf_counter() - wall, time.process_time() - cpu)"
    )
    # Only Lambda's variables: nothing of this shell (no POWERTOOLS_TRACE_DISABLED, no endpoint override).
    # The layer is on the path as /opt/python would be.
    env = {
        **environment,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT / "layers" / "shared"),
    }
    out = subprocess.run(
        [python_executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"import of {module_file or 'boto3'} failed:\n{out.stderr.strip()}")
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


@dataclass
class ImportTimes:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, sample: tuple[float, float]) -> None:
        self.wall.append(sample[0])
        self.cpu.append(sample[1])


def cold_import_cpu_seconds(function: LambdaFunction | None, runs: int) -> float:
    """Median CPU seconds of ``function``'s cold import in Lambda's environment (``import boto3`` alone
    for None): what its INIT costs, whatever else the machine is doing."""
    if function is None:
        samples = [_import_once(None, LAMBDA_RUNTIME_ENVIRONMENT)[1] for _ in range(runs)]
    else:
        samples = [_import_once(function.module_file, function.environment)[1] for _ in range(runs)]
    return statistics.median(samples)


def cold_imports(
    functions: list[LambdaFunction], runs: int
) -> tuple[ImportTimes, ImportTimes, dict[str, ImportTimes]]:
    """``runs`` rounds of: boto3 alone, the floor, then every handler, so that a load change on the machine
    touches the baseline and the handlers alike."""
    baseline, floor = ImportTimes(), ImportTimes()
    handlers = {function.name: ImportTimes() for function in functions}
    # The floor with the Globals every function gets (POWERTOOLS_*, PYDANTIC_*): the first function's.
    floor_environment = functions[0].environment if functions else LAMBDA_RUNTIME_ENVIRONMENT
    for _ in range(runs):
        baseline.add(_import_once(None, LAMBDA_RUNTIME_ENVIRONMENT))
        floor.add(_import_once(None, floor_environment, body=FLOOR_BODY))
        for function in functions:
            handlers[function.name].add(_import_once(function.module_file, function.environment))
    return baseline, floor, handlers


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="cold-import runs per module (median)")
    parser.add_argument(
        "--cold-import-only", action="store_true", help="skip the promotion paths; only the cold imports"
    )
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter of the cold imports (default: this one)"
    )
    args = parser.parse_args()
    if shutil.which(args.python) is None:
        parser.error(f"--python {args.python}: no such interpreter")
    global python_executable
    python_executable = args.python

    if not args.cold_import_only:
        print("promotion paths on the local plane (time scale 1.0)")
        print(f"{'path':40} {'status':10} {'wall s':>8} {'transitions':>12} {'cost $':>10}")
        for label, elapsed, count, status in run_promotions():
            print(f"{label:40} {status:10} {elapsed:8.2f} {count:12d} {count * PRICE_PER_TRANSITION:10.6f}")
        print()

    print(
        f"cold import, median of {args.runs} fresh interpreters in Lambda's environment (tracing on); "
        f"ratio = CPU ms / CPU ms of import boto3, target <= {TARGET_RATIO}x"
    )
    functions = template_functions()
    baseline, floor, handlers = cold_imports(functions, args.runs)
    base_cpu = statistics.median(baseline.cpu)
    floor_cpu = statistics.median(floor.cpu)
    print(f"{'module':40} {'wall ms':>8} {'CPU ms':>8} {'ratio':>7} {'above floor ms':>15}")
    base_wall = statistics.median(baseline.wall)
    print(f"{'import boto3 alone':40} {base_wall * 1000:8.0f} {base_cpu * 1000:8.0f}   1.00x")
    floor_wall = statistics.median(floor.wall)
    print(
        f"{'floor: boto3+pydantic+powertools':40} {floor_wall * 1000:8.0f} {floor_cpu * 1000:8.0f} "
        f"{floor_cpu / base_cpu:6.2f}x"
    )
    above = 0
    for name, times in handlers.items():
        cpu = statistics.median(times.cpu)
        ratio = cpu / base_cpu
        mark = "  above target" if ratio > TARGET_RATIO else ""
        above += ratio > TARGET_RATIO
        print(
            f"{name:40} {statistics.median(times.wall) * 1000:8.0f} {cpu * 1000:8.0f} {ratio:6.2f}x "
            f"{(cpu - floor_cpu) * 1000:15.0f}{mark}"
        )
    print(f"{above} of {len(handlers)} handlers above {TARGET_RATIO}x")
    print(
        f"the floor alone (what every handler imports before any code of ours) is {floor_cpu / base_cpu:.2f}x"
    )
    notify = next(function for function in functions if function.name == "notify")
    # The import as shipped, measured once for both comparisons below.
    shipped = [_import_once(notify.module_file, notify.environment)[1] for _ in range(args.runs)]
    print_collector_pause_saving(notify, shipped)
    print_bytecode_cost(notify, shipped)
    return 0


def print_collector_pause_saving(function: LambdaFunction, shipped: list[float]) -> None:
    """The same import with the layer's pause of the garbage collector made a no-op, beside the import as
    shipped (``shipped``: its CPU seconds; inside Lambda the layer pauses the collector until the first
    request: cold_start.py)."""
    without_pause = "import gc; gc.disable = lambda: None; " + _handler_body(function.module_file)
    collected = [_import_once(None, function.environment, body=without_pause)[1] for _ in range(len(shipped))]
    print(
        f"{function.name} with the collector running through INIT: {statistics.median(collected) * 1000:.0f} "
        f"CPU ms, paused as shipped {statistics.median(shipped) * 1000:.0f} CPU ms"
    )


def print_bytecode_cost(function: LambdaFunction, shipped: list[float]) -> None:
    """What shipping .pyc files saves (make sam-build compiles the build): Lambda's code directories are
    read-only, so a package without them compiles every module it imports at each cold start. Measured here
    by importing with an empty bytecode cache that nothing may write to (every module compiled from source,
    boto3's too, which the runtime's own copy may not need). ``shipped``: the CPU seconds of the import as
    shipped."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="no-bytecode-") as empty:
        environment = {**function.environment, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty}
        compiled = [_import_once(function.module_file, environment)[1] for _ in range(len(shipped))]
    print(
        f"{function.name} without shipped bytecode: {statistics.median(compiled) * 1000:.0f} CPU ms, "
        f"with it {statistics.median(shipped) * 1000:.0f} CPU ms"
    )


if __name__ == "__main__":
    raise SystemExit(main())
