"""Save moto's whole state once and hand each test a fresh copy of it: how the deploy tests share one end-to-end setup.

Most deploy tests start from the same account: ``bootstrap`` and a first ``apply`` of dev (``deployed`` in
tests/deploy/conftest.py), some from a second release on top (``two_releases`` in test_history.py). Running those
commands again for every test is most of the suite's time. Instead the first test in each test process runs them as
before, and :func:`save` then keeps a deep copy of every moto backend (the in-process server's whole state); each
later test gets :func:`restore`'s fresh deep copy of that, after the ``moto`` fixture's reset, so no test sees another
test's changes and the order of tests does not matter.

Two details of moto 5.2 (tests/deploy/moto_compat.py ``TESTED_WITH``) need care:

- Models hold ``threading.Lock``s, which ``copy.deepcopy`` refuses: while copying, a lock is copied as a new lock.
- Every model instance is tracked by its class (``instances_tracked``), and a reset closes the S3 object buffers of
  every tracked key: the saved copy is taken off those lists (its buffers stay open), a restored copy stays on them
  (the next reset closes its buffers as it does for any object a test made). S3's bucket-to-account map lives on
  ``s3_backends`` itself and is saved beside the backends.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from dataclasses import dataclass

from moto.core.base_backend import BackendDict
from moto.core.model_instances import model_data
from moto.s3.models import s3_backends

_LOCKS = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock}


@contextlib.contextmanager
def _copyable_locks():
    dispatch = copy._deepcopy_dispatch  # copy's own registry of per-type copiers
    before = {t: dispatch.get(t) for t in _LOCKS}
    for kind, make in _LOCKS.items():
        dispatch[kind] = lambda _lock, _memo, make=make: make()
    try:
        yield
    finally:
        for kind, old in before.items():
            if old is None:
                dispatch.pop(kind, None)
            else:
                dispatch[kind] = old


def _copy(backends: list[tuple[BackendDict, dict]]) -> tuple[list[tuple[BackendDict, dict]], dict]:
    memo: dict = {id(registry): registry for registry, _ in backends}  # the registries themselves are not copied
    memo[id(s3_backends)] = s3_backends
    with _copyable_locks():
        made = copy.deepcopy(backends, memo)
    return made, memo


@dataclass
class Saved:
    backends: list[tuple[BackendDict, dict]]
    bucket_accounts: dict


def save() -> Saved:
    """A deep copy of every backend in use, untouched by later resets."""
    backends, memo = _copy([(registry, dict(registry)) for registry in BackendDict._instances])
    copies = {id(v) for k, v in memo.items() if k != id(memo)}
    for models in model_data.values():
        for model in models.values():
            model.instances_tracked = [i for i in model.instances_tracked if id(i) not in copies]
    return Saved(backends, dict(s3_backends.bucket_accounts))


def restore(saved: Saved) -> None:
    """Make moto's state a fresh copy of ``saved``: every backend in use is reset first (as the ``moto`` fixture's
    reset does), so nothing of an earlier state stays, not even a service ``saved`` never used."""
    BackendDict.reset()
    backends, _ = _copy(saved.backends)
    for registry, accounts in backends:
        registry.clear()
        registry.update(accounts)
        if registry not in BackendDict._instances:
            BackendDict._instances.append(registry)
    s3_backends.bucket_accounts.clear()
    s3_backends.bucket_accounts.update(saved.bucket_accounts)
