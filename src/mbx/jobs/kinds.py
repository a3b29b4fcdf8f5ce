"""What a job can be: one library operation each, declared as data.

A job's ``args`` are the keyword arguments of its operation, as JSON holds
them (``limits`` as a dict of :class:`~mbx.archive.ArchiveLimits` fields).
Submitting checks them against the operation's signature, so a misspelt
setting is refused at once rather than by a worker later. Paths are made
absolute at submission: a worker may run in another folder (and, across
machines, must see the same paths).

``retry`` says when a failed job may run again:

- ``safe``: a rerun does no harm (verify; transform and synth write their output
  under a temporary name; ``store add`` is idempotent; ``store gc`` is crash-safe);
- ``after-rollback``: only when the operation itself reported that it rolled back
  (restore: a worker lost mid-restore is not retried, a failure that rolled back is);
- ``never``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import time
from collections.abc import Callable
from typing import Any

import msgspec

from mbx.jobs.table import JobError
from mbx.progress import Monitor

__all__ = ["KINDS", "Kind", "call", "kind_of", "run"]


class Kind(msgspec.Struct, frozen=True):
    """One kind of job: its operation and what is known about running it."""

    #: ``module:function`` of the operation
    operation: str
    #: the phase a progress bar shows before the operation names one
    phase: str
    #: when a failed attempt may be retried: safe, after-rollback or never
    retry: str = "safe"
    #: arguments that are paths (made absolute when submitted)
    paths: tuple[str, ...] = ()
    #: arguments without which the job cannot run
    required: tuple[str, ...] = ()

    def function(self) -> Callable[..., Any]:
        module, _, name = self.operation.partition(":")
        return getattr(importlib.import_module(module), name)


def noop(seconds: float = 0.0, *, ignore_cancel: bool = False, fail: str | None = None,
         progress: Monitor | None = None) -> dict[str, Any]:
    """A job that does nothing for ``seconds`` (in steps of 10 ms, checking for cancel
    unless ``ignore_cancel``), then fails with ``fail`` if given: for measuring the
    queue's own overhead, and for trying a worker out."""
    monitor = progress or Monitor()
    steps = max(int(seconds / 0.01), 0)
    monitor.phase("waiting", total_members=steps or None)
    for _ in range(steps):
        time.sleep(0.01)
        if ignore_cancel:
            monitor.done_members += 1
        else:
            monitor.advance(members=1)
    if fail:
        raise RuntimeError(fail)
    return {"slept": seconds}


#: kind -> what it runs. Adding a kind is one line here.
KINDS: dict[str, Kind] = {
    "verify": Kind("mbx.verification:verify", "verifying", paths=("path",),
                   required=("path",)),
    "synth": Kind("mbx.synth:synthesize", "writing", paths=("out_path",),
                  required=("out_path",)),
    "transform": Kind("mbx.transform:transform", "transforming",
                      paths=("source", "output", "rewrite_users", "roll_dates.overrides"),
                      required=("source", "output")),
    "store-add": Kind("mbx.store:add", "adding", paths=("store", "archive"),
                      required=("store", "archive")),
    "store-gc": Kind("mbx.store:gc", "collecting", paths=("store",), required=("store",)),
    "restore": Kind("mbx.restore:restore", "restoring", retry="after-rollback",
                    paths=("archive", "files", "work_dir"), required=("archive",)),
    "noop": Kind("mbx.jobs.kinds:noop", "waiting"),
}

#: other spellings of a kind on the command line (``store add``)
ALIASES = {"store add": "store-add", "store gc": "store-gc"}


def kind_of(name: str) -> Kind:
    try:
        return KINDS[ALIASES.get(name, name)]
    except KeyError:
        raise JobError(f"no job kind {name!r}; kinds: {', '.join(KINDS)}",
                       code="job-unknown-kind") from None


def checked_args(kind_name: str, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` as the job table keeps them: checked against the operation, paths absolute.

    Raises :class:`JobError` for an argument the operation does not take or a
    missing required one; the values themselves are checked when the job runs.
    """
    kind = kind_of(kind_name)
    parameters = inspect.signature(kind.function()).parameters
    unknown = sorted(set(args) - set(parameters) | ({"progress"} & set(args)))
    if unknown:
        raise JobError(f"{kind_name} takes no {', '.join(unknown)}", code="job-bad-args")
    missing = [name for name in kind.required if args.get(name) in (None, "")]
    if missing:
        raise JobError(f"{kind_name} needs {', '.join(missing)}", code="job-bad-args")
    try:
        json.dumps(args)
    except (TypeError, ValueError) as error:
        raise JobError(f"{kind_name}: arguments must be JSON values ({error})",
                       code="job-bad-args") from None
    args = json.loads(json.dumps(args))  # a copy, JSON's own
    for name in kind.paths:
        *outer, last = name.split(".")
        holder = args
        for part in outer:
            holder = holder.get(part) if isinstance(holder, dict) else None
        value = holder.get(last) if isinstance(holder, dict) else None
        if isinstance(value, str) and "://" not in value and not value.startswith("sqlite:"):
            holder[last] = os.path.abspath(os.path.expanduser(value))
    if kind_name == "restore" and args.get("into") is None:  # the default, named here
        args["into"] = parameters["into"].default                # (the worker's folder differs)
    target = args.get("into")
    if kind_name == "restore" and isinstance(target, str) and target.startswith("sqlite:"):
        args["into"] = "sqlite:" + os.path.abspath(target.removeprefix("sqlite:"))
    return args


def run(kind_name: str, args: dict[str, Any], monitor: Monitor) -> Any:
    """Runs the operation with ``args`` and the job's monitor; returns its report as
    JSON holds it."""
    report = call(kind_name, args, monitor)
    if hasattr(report, "to_dict"):
        report = report.to_dict()
    return msgspec.to_builtins(report)


def call(kind_name: str, args: dict[str, Any], monitor: Monitor) -> Any:
    """Runs the operation of ``kind_name`` with ``args`` (as the job table keeps them)
    and ``monitor``; returns its report. The CLI's own commands run through here too."""
    kind = kind_of(kind_name)
    call = dict(args)
    if isinstance(call.get("limits"), dict):
        from mbx.archive import ArchiveLimits

        call["limits"] = ArchiveLimits(**call["limits"])
    for name in ("activities", "sections"):  # restore takes tuples of ids
        if kind_name == "restore" and isinstance(call.get(name), list):
            call[name] = tuple(call[name])
    monitor.phase_name = kind.phase
    return kind.function()(**call, progress=monitor)
