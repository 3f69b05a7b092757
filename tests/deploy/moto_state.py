"""Save moto's whole state once and hand each test a fresh copy of it: how the deploy tests share one end-to-end setup.

Most deploy tests start from the same account: ``bootstrap`` and a first ``apply`` of dev (``deployed`` in
tests/deploy/conftest.py), some from a second release on top (``two_releases`` in test_history.py). Running those
commands again for every test is most of the suite's time. Instead the first test in each test process runs them as
before, and :func:`save` then pickles every moto backend (the in-process server's whole state); each later test gets
:func:`restore`'s fresh unpickled copy of that, after the ``moto`` fixture's reset, so no test sees another test's
changes and the order of tests does not matter.

Why pickle and not ``copy.deepcopy``: both rebuild the objects through the ``__reduce_ex__`` protocol (moto's models
define ``__getstate__`` where they hold buffers), but unpickling runs in C. A restore happens before most deploy
tests; for the ``deployed`` state a deep copy took 0.13 to 0.37 s and an unpickling takes 4 ms (with EC2's public
AMIs off: tests/deploy/conftest.py ``_aws_environment``). Pickle does not call ``__deepcopy__``, which three moto
classes define: ``MISSING`` (never stored), ``DynamoType`` (copies its value either way) and EC2's security group
rules, whose deep copy kept pointing at the backend they were copied from; unpickled, they point at the restored
one.

Three details of moto 5.2 (tests/deploy/moto_compat.py ``TESTED_WITH``) need care:

- Models hold ``threading.Lock``s, which pickle refuses: a lock is saved as "a new lock".
- The backend registries (``BackendDict``) and ``s3_backends`` are moto's module-level singletons: they are saved by
  reference (pickle's persistent ids), never copied, and the restored backends are put back into them. So are
  cryptography's keys and certificates (ACM's): immutable, and refused by pickle.
- Every model instance is tracked by its class (``instances_tracked``, appended to in ``__new__``, which unpickling
  calls too), and a reset closes the S3 object buffers of every tracked key: a restored copy is tracked like any
  object a test made, and the saved state is bytes, which no reset can touch. S3's bucket-to-account map lives on
  ``s3_backends`` itself and is saved beside the backends.
"""

from __future__ import annotations

import gc
import io
import pickle
import threading
from dataclasses import dataclass

from moto.core.base_backend import BackendDict
from moto.s3.models import s3_backends

# cryptography's keys and certificates (ACM's, in moto) are immutable Rust objects that pickle refuses and whose
# __deepcopy__ returns the object itself: the saved state refers to them, as a deep copy would
_IMMUTABLE = "cryptography.hazmat.bindings._rust"
_LOCKS = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock}


class _Pickler(pickle.Pickler):
    def __init__(self, file, shared: dict[int, object]):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.shared = shared

    def persistent_id(self, obj):
        if type(obj).__module__.startswith(_IMMUTABLE):
            self.shared[id(obj)] = obj  # kept by reference, as copy.deepcopy keeps it
        return id(obj) if id(obj) in self.shared else None

    def reducer_override(self, obj):
        make = _LOCKS.get(type(obj))
        return (make, ()) if make else NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, shared: dict[int, object]):
        super().__init__(file)
        self.shared = shared

    def persistent_load(self, pid):
        return self.shared[pid]


@dataclass(frozen=True)
class Saved:
    backends: bytes  # the pickled [(registry, {account: backends})] of every registry in use
    shared: dict[int, object]  # what ``backends`` refers to by id: the registries, ``s3_backends``, keys
    bucket_accounts: dict


def save() -> Saved:
    """Every backend in use, as bytes: untouched by later resets and by what the tests do to the live state."""
    shared: dict[int, object] = {id(registry): registry for registry in BackendDict._instances}
    shared[id(s3_backends)] = s3_backends  # a reset empties BackendDict._instances: the ids are kept here
    buffer = io.BytesIO()
    _Pickler(buffer, shared).dump([(registry, dict(registry)) for registry in BackendDict._instances])
    return Saved(buffer.getvalue(), shared, dict(s3_backends.bucket_accounts))


def restore(saved: Saved) -> None:
    """Make moto's state a fresh copy of ``saved``: every backend in use is reset first (as the ``moto`` fixture's
    reset does), so nothing of an earlier state stays, not even a service ``saved`` never used."""
    BackendDict.reset()
    collecting = gc.isenabled()
    gc.disable()  # unpickling makes objects that all stay alive: collecting during it only costs time
    try:
        backends = _Unpickler(io.BytesIO(saved.backends), saved.shared).load()
    finally:
        if collecting:
            gc.enable()
    for registry, accounts in backends:
        registry.clear()
        registry.update(accounts)
        if registry not in BackendDict._instances:
            BackendDict._instances.append(registry)
    s3_backends.bucket_accounts.clear()
    s3_backends.bucket_accounts.update(saved.bucket_accounts)
