"""Instructions per request, counted by valgrind's callgrind: what a variant costs, repeatably.

Wall-clock ratios move by a few percent from run to run on a shared machine; instruction
counts do not (the same code, inputs and environment give the same count within about
0.5 %, whatever else the machine is doing). They do not weigh cache misses or system calls
the way time does, so they complement ``run.py``'s timings rather than replace them: use them
to see whether a change made a path cheaper, and where a path's cost goes.

```bash
.venv/bin/python benchmarks/instructions.py retrieve.plain-model retrieve.columns retrieve.ours
.venv/bin/python benchmarks/instructions.py --breakdown update   # what each step of ours costs
.venv/bin/python benchmarks/instructions.py --breakdown retrieve
```

The first form prints each variant's instructions per request and its ratio to the first
variant named of the same group (``retrieve.plain-model`` for ``retrieve.ours``). ``--breakdown update`` measures the DRF ``PATCH`` with ``If-Match`` (``update.ours``;
``retrieve``: the DRF ``GET``) again and again, each time with one more of our steps replaced by what the plain
``ModelViewSet`` does (see :data:`BREAKDOWN`): the differences are what each step costs. Those
measurements switch protection off step by step; they are a diagnostic, not a benchmark.

Needs valgrind (``apt-get install valgrind``); runs on SQLite; about 20 s per variant.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

_HOOKS = (
    "Mixin = mixin.PreconditionMixin; "
    "Mixin.check_object_permissions = GenericAPIView.check_object_permissions; "
    "Mixin.initial = APIView.initial; Mixin.get_queryset = GenericAPIView.get_queryset; "
    "Mixin.get_serializer = GenericAPIView.get_serializer; "
    "Mixin.get_renderers = APIView.get_renderers; "
    "Mixin.finalize_response = APIView.finalize_response; "
    "Mixin.dispatch = APIView.dispatch"
)
_HOOKS_LABEL = (
    "- the mixin's DRF hooks (initial, permissions, queryset, serializer, renderers, "
    "finalize_response, dispatch)"
)
_GET_OBJECT = "Mixin.get_object = GenericAPIView.get_object"
_GET_OBJECT_LABEL = "- loading and checking the object (the mixin's get_object)"
_COLUMNS_LABEL = "the columns alone (VersionedModel + plain ModelViewSet)"
_OURS_LABEL = "ours (PreconditionMixin)"
_NO_RETRY_LABEL = "- the retry loop (run_with_retries)"
_NO_RETRY = "mixin.run_with_retries = lambda request, attempt: attempt()"


def _always_proceed(reason: str, method: str) -> str:
    """Code that replaces the evaluation by a decision to proceed."""
    return (
        "proceed = conditions.Decision(conditions.Outcome.PROCEED, "
        f"conditions.Reason.{reason}, {method!r}); "
        "enforcement.evaluate = lambda *args, **kwargs: proceed"
    )


#: (label, variant, code run before it): cumulative, each step on top of the ones before.
#: The bench client sends the ETag of the previous response in ``If-Match``; once the
#: evaluation is replaced, the validators can go too (nothing checks the ETag any more).
BREAKDOWN: dict[str, list[tuple[str, str, str]]] = {
    "retrieve": [
        (_COLUMNS_LABEL, "retrieve.columns", ""),
        (_OURS_LABEL, "retrieve.ours", ""),
        (
            "- ETag and Last-Modified on the response",
            "retrieve.ours",
            "mixin.finish = lambda request, response, *args: response",
        ),
        (
            "- the decision (evaluate: no conditional header)",
            "retrieve.ours",
            _always_proceed("NO_PRECONDITIONS", "GET"),
        ),
        (_NO_RETRY_LABEL, "retrieve.ours", _NO_RETRY),
        (_HOOKS_LABEL, "retrieve.ours", _HOOKS),
        (_GET_OBJECT_LABEL, "retrieve.ours", _GET_OBJECT),
    ],
    "update": [
        (_COLUMNS_LABEL, "update.columns", ""),
        (_OURS_LABEL, "update.ours", ""),
        (
            "- keeping the body for a retry (keep_body)",
            "update.ours",
            "mixin.keep_body = lambda request: None",
        ),
        (
            "- evaluating If-Match (evaluate)",
            "update.ours",
            _always_proceed("PRECONDITIONS_PASSED", "PATCH"),
        ),
        (
            "- the compare-and-swap save (expected version, UPDATE ... AND version_token = ...)",
            "update.ours",
            "mixin.push_instance_expectation = lambda *args, **kwargs: None",
        ),
        (
            "- ETag and Last-Modified on the response, If-Match on the request",
            "update.ours",
            "mixin.finish = lambda request, response, *args: response",
        ),
        (_NO_RETRY_LABEL, "update.ours", _NO_RETRY),
        (_HOOKS_LABEL, "update.ours", _HOOKS),
        (_GET_OBJECT_LABEL, "update.ours", _GET_OBJECT),
    ],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="*", help="variant keys (run.py --profile list)")
    parser.add_argument("--breakdown", choices=sorted(BREAKDOWN), help="cost of each step")
    parser.add_argument("--requests", type=int, default=200, help="measured per variant")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # the run under valgrind
    args = parser.parse_args(argv)
    if not args.child and not args.variants and not args.breakdown:
        parser.error("name variants, or --breakdown")
    return args


def child(plan_file: str, requests: int) -> int:
    """Under callgrind: warm every variant up, then count each step between two dumps."""
    sys.path.insert(0, str(HERE))
    import run

    steps: list[tuple[str, str, str]] = json.loads(Path(plan_file).read_text())
    _, cleanup = run.setup_django(None)
    try:
        from rest_framework.generics import GenericAPIView
        from rest_framework.views import APIView

        from django_preconditions import conditions, enforcement
        from django_preconditions.rest_framework import mixin

        namespace: dict[str, Any] = {
            "APIView": APIView,
            "GenericAPIView": GenericAPIView,
            "conditions": conditions,
            "enforcement": enforcement,
            "mixin": mixin,
        }
        factories = {}  # variant key -> the factory of its group
        wanted = {key for _, key, _ in steps}
        # Groups are built in run.py's order (the middleware's "fn" last) and only until every
        # wanted variant is found: the middleware's first request installs its from_db hook
        # for the rest of the process, which every VersionedModel load then pays, as in a
        # project that installs the middleware; the other variants are counted without it.
        for factory in run.group_factories(["drf", "fn", "304", "list", "headers"]):
            if wanted <= factories.keys():
                break
            for variant in factory().variants:
                factories.setdefault(variant.key, factory)

        def fresh(key: str) -> Any:
            """The variant from a group built now: a conditional request sends the ETag its
            target has now, after the writes of the variants measured before it."""
            return next(v for v in factories[key]().variants if v.key == key)

        for _, key, _ in steps:  # every variant warm before the first count
            variant = fresh(key)
            for _ in range(30):
                variant.check(variant.send())
        for index, (_, key, code) in enumerate(steps):
            exec(code, namespace)
            variant = fresh(key)
            if variant.enter is not None:
                variant.enter()  # e.g. the URLconf that tries its routes first
            for _ in range(10):
                variant.check(variant.send())
            gc.collect()
            gc.freeze()  # a full collection in one step would be counted against it
            _dump(f"before-{index}")
            for _ in range(requests):
                variant.check(variant.send())
            _dump(f"step-{index}")
    finally:
        cleanup()
    return 0


def _dump(label: str) -> None:
    subprocess.run(
        ["callgrind_control", "--dump=" + label, str(os.getpid())],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def count(steps: list[tuple[str, str, str]], requests: int) -> list[float]:
    """Instructions per request of each step, from one run under callgrind."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="preconditions-callgrind-") as scratch:
        plan = Path(scratch) / "plan.json"
        plan.write_text(json.dumps(steps))
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={scratch}/out.%p",
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            str(plan),
            "--requests",
            str(requests),
        ]
        environment = {**os.environ, "PYTHONHASHSEED": "0"}
        result = subprocess.run(command, capture_output=True, text=True, env=environment)
        if result.returncode:
            sys.stderr.write(result.stderr[-3000:])
            raise SystemExit(f"the run under callgrind failed ({result.returncode})")
        totals: dict[int, int] = {}
        for dump in Path(scratch).glob("out.*"):
            text = dump.read_text(errors="replace")
            trigger = re.search(r"^desc: Trigger: .*?step-(\d+)$", text, re.MULTILINE)
            summary = re.search(r"^summary: (\d+)$", text, re.MULTILINE)
            if trigger and summary:
                totals[int(trigger.group(1))] = int(summary.group(1))
    return [totals[index] / requests for index in range(len(steps))]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args.child, args.requests)
    if args.breakdown:
        steps = BREAKDOWN[args.breakdown]
        counts = count(steps, args.requests)
        base = counts[0]
        print(f"Instructions per request ({args.requests} requests per step, SQLite):")
        print(f"  {counts[0]:>12,.0f}  {steps[0][0]}")
        print(f"  {counts[1]:>12,.0f}  {steps[1][0]}: {counts[1] - base:+,.0f} over the columns")
        for index in range(2, len(steps)):
            saved = counts[index - 1] - counts[index]
            print(f"  {counts[index]:>12,.0f}  {steps[index][0]}: {saved:,.0f}")
        print(
            f"  {'':>12}  left when every step above is replaced: "
            f"{counts[-1] - base:+,.0f} over the columns (URL resolving; counts vary by about "
            "10,000 between runs)"
        )
        return 0
    steps = [(key, key, "") for key in args.variants]
    counts = count(steps, args.requests)
    print(f"Instructions per request ({args.requests} requests per variant, SQLite):")
    first: dict[str, tuple[str, float]] = {}  # per group (the key's prefix): its first variant
    for (key, _, _), value in zip(steps, counts, strict=True):
        base_key, base = first.setdefault(key.split(".")[0], (key, value))
        print(f"  {key:32s} {value:>12,.0f}  {value / base:.4f}x {base_key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
