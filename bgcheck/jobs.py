"""Every module that registers a background job, imported in one place.

A job registers itself with ``@bgcheck.platform.worker.register`` when its module is imported.
``bgcheck.platform.worker.run`` imports this module first, so the worker (``bgcheck worker`` and
the embedded one inside ``serve``) runs every job listed here and nothing depends on
which modules some other code path happened to import. Add a new job's module below.
"""

from __future__ import annotations

from bgcheck.audit import checkpoints
from bgcheck.cases import idempotency, timers
from bgcheck.identity import auth
from bgcheck.vault import retention
from bgcheck.vendors import orders as vendor_orders

MODULES = (checkpoints, auth, timers, retention, idempotency, vendor_orders)
