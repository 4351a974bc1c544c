"""The vendor simulator: a small screening vendor speaking the HTTP protocol of
docs/vendor-http.md, run as its own process (``bgcheck vendor-sim``).

It exists so that ``HttpVendor``, the outbox and the webhook endpoint are tested against
a real server with real signatures and real failures (``POST /_sim/faults``), and so that
a demo can run against a vendor that is not in-process. Its data lives in memory. It is
deterministic: an SSN ending in ``0000`` gets a criminal-record finding, any other a
clear report. It keeps no subject data beyond that outcome and logs order ids only.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import hmac
import itertools
import json
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from bgcheck.platform.logs import get_logger
from bgcheck.vendors.base import OrderStatus
from bgcheck.vendors.report import Check, Finding, Report, Result
from bgcheck.vendors.signatures import StandardWebhooks

log = get_logger("bgcheck.vendor_sim")

CONSIDER_SSN_SUFFIX = "0000"
WEBHOOK_ATTEMPTS = 3  # a short retry: the simulator is not the place to model a day of them
WEBHOOK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class SimConfig:
    api_key: str
    webhook_secret: str  # whsec_<base64>
    webhook_url: str | None = None  # None: a vendor that never calls back (poll only)
    delay_seconds: float = 1.0  # how long an order, or a reinvestigation, takes
    name: str = "Vendor Simulator"

    def __repr__(self) -> str:
        return f"SimConfig(webhook_url={self.webhook_url!r}, delay={self.delay_seconds})"


# ---------------------------------------------------------------------------- wire models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AddressIn(_Strict):
    model_config = ConfigDict(populate_by_name=True)

    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    state: str = Field(min_length=2, max_length=2)
    postal_code: str = Field(min_length=3, max_length=10)
    from_: date = Field(alias="from")
    to: date | None = None


class LicenseIn(_Strict):
    number: str = Field(min_length=1, max_length=40)
    state: str = Field(min_length=2, max_length=2)


class SubjectIn(_Strict):
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    other_names: list[str] = Field(default_factory=list, max_length=20)
    date_of_birth: date
    ssn: str = Field(pattern=r"^\d{9}$")
    addresses: list[AddressIn] = Field(min_length=1, max_length=50)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    drivers_license: LicenseIn | None = None


class OrderIn(_Strict):
    external_id: str = Field(min_length=1, max_length=128)
    package: str = Field(min_length=1, max_length=64)
    subject: SubjectIn


class ReinvestigationIn(_Strict):
    statement: str = Field(min_length=1, max_length=20_000)


class Faults(_Strict):
    """Failures to inject; posting a set replaces the previous one (omitted = off)."""

    fail_rate: float = Field(default=0.0, ge=0, le=1, description="Answer API calls 503.")
    fail_next: int = Field(default=0, ge=0, le=1000, description="The next N API calls 503.")
    timeout_rate: float = Field(
        default=0.0, ge=0, le=1, description="Do the work, then answer after hang_seconds."
    )
    hang_seconds: float = Field(default=30.0, gt=0, le=600)
    duplicate_webhooks: bool = Field(default=False, description="Deliver each webhook twice.")
    reorder_webhooks: bool = Field(default=False, description="Hold `acknowledged` back.")
    drop_webhooks: bool = Field(default=False, description="Never send a webhook.")
    suspend_ssn_suffix: str | None = Field(
        default=None, pattern=r"^\d{1,9}$", description="Such orders end `suspended`."
    )
    delay_seconds: float | None = Field(
        default=None, ge=0, le=86_400, description="How long new orders take (else --delay)."
    )


# ---------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    msg_id: str
    body: dict[str, Any]  # {"type": …, "data": {"id", "external_id", "status"}}

    @property
    def kind(self) -> str:
        return str(self.body["type"])

    @property
    def order_id(self) -> str:
        return str(self.body["data"]["id"])


@dataclass(slots=True)
class SimOrder:
    id: str
    external_id: str
    package: str
    consider: bool  # decided at creation; the subject itself is not kept
    suspend: bool
    status: OrderStatus = OrderStatus.PENDING
    result: Result | None = None
    report: Report | None = None
    reinvestigated_at: datetime | None = None
    held: list[Webhook] = field(default_factory=list)  # reordered webhooks

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "external_id": self.external_id,
            "status": self.status.value,
            "result": self.result.value if self.result else None,
            "report": self.report.model_dump(mode="json") if self.report else None,
            "reinvestigated_at": (
                self.reinvestigated_at.isoformat() if self.reinvestigated_at else None
            ),
        }


@dataclass(slots=True)
class Stats:
    orders: int = 0
    order_requests: int = 0
    requests_by_key: Counter[str] = field(default_factory=Counter)
    orders_by_external_id: Counter[str] = field(default_factory=Counter)
    webhooks_sent: int = 0
    webhooks_failed: int = 0  # deliveries given up on after every attempt
    webhooks_dropped: int = 0  # by the drop_webhooks fault

    def to_json(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "order_requests": self.order_requests,
            "requests_by_key": dict(self.requests_by_key),
            "orders_by_external_id": dict(self.orders_by_external_id),
            "webhooks_sent": self.webhooks_sent,
            "webhooks_failed": self.webhooks_failed,
            "webhooks_dropped": self.webhooks_dropped,
        }


class Scheduler:
    """One thread running timed tasks in due order: order progress and webhook attempts."""

    def __init__(self) -> None:
        self._tasks: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="vendor-sim", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=WEBHOOK_TIMEOUT_SECONDS + 1)

    def at(self, delay: float, task: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._tasks, (time.monotonic() + delay, next(self._seq), task))
            self._cond.notify()

    def clear(self) -> None:
        with self._cond:
            self._tasks.clear()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (
                    not self._tasks or self._tasks[0][0] > time.monotonic()
                ):
                    wait = self._tasks[0][0] - time.monotonic() if self._tasks else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, task = heapq.heappop(self._tasks)
            try:
                task()
            except Exception:  # one bad task must not stop the vendor
                log.exception("vendor-sim task failed")


class Simulator:
    """The vendor's state and behaviour; the FastAPI app below is its HTTP face."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.signer = StandardWebhooks(config.webhook_secret)
        self.scheduler = Scheduler()
        self.lock = threading.Lock()
        self.random = random.Random()  # noqa: S311 (fault injection, not cryptography)
        self._http = httpx.Client(timeout=WEBHOOK_TIMEOUT_SECONDS)
        self.generation = 0  # bumped by reset, so that tasks from before it do nothing
        self._reset_state()

    def _reset_state(self) -> None:
        self.orders: dict[str, SimOrder] = {}
        self.keys: dict[tuple[str, str], tuple[str, str]] = {}  # (op, key) → (order, print)
        self.stats = Stats()
        self.faults = Faults()
        self.generation += 1

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self._http.close()

    def reset(self) -> None:
        with self.lock:
            self.scheduler.clear()
            self._reset_state()

    # -- API operations (called with the lock held) ----------------------------------

    def place(self, key: str, request: OrderIn) -> tuple[SimOrder, bool]:
        """The order for ``key``, created if new; ``True`` when it was created now."""
        fingerprint = _fingerprint(request.model_dump(mode="json"))
        existing = self._replay("order", key, fingerprint)
        if existing is not None:
            return existing, False
        ssn = request.subject.ssn
        suffix = self.faults.suspend_ssn_suffix
        order = SimOrder(
            id=f"ord_{secrets.token_hex(10)}",
            external_id=request.external_id,
            package=request.package,
            consider=ssn.endswith(CONSIDER_SSN_SUFFIX),
            suspend=suffix is not None and ssn.endswith(suffix),
        )
        self.orders[order.id] = order
        self.keys[("order", key)] = (order.id, fingerprint)
        self.stats.orders += 1
        self.stats.orders_by_external_id[order.external_id] += 1
        log.info("order created", order=order.id)
        self._emit(order, "order.acknowledged")
        delay = self.faults.delay_seconds
        self._later(self.config.delay_seconds if delay is None else delay, order.id, self._progress)
        return order, True

    def cancel(self, key: str, order: SimOrder) -> SimOrder:
        if self._replay("cancel", key, order.id) is not None:
            return order
        self.keys[("cancel", key)] = (order.id, order.id)
        if order.status in (OrderStatus.PENDING, OrderStatus.SUSPENDED):
            order.status = OrderStatus.CANCELLED
            log.info("order cancelled", order=order.id)
            self._emit(order, "order.cancelled")
        return order

    def reinvestigate(self, key: str, order: SimOrder) -> SimOrder:
        if self._replay("reinvestigation", key, order.id) is not None:
            return order
        if order.status is not OrderStatus.COMPLETE:
            raise HTTPException(409, f"cannot reinvestigate a {order.status.value} order")
        self.keys[("reinvestigation", key)] = (order.id, order.id)
        order.status = OrderStatus.DISPUTED
        log.info("reinvestigation started", order=order.id)
        self._later(self.config.delay_seconds, order.id, self._reinvestigated)
        return order

    def _replay(self, op: str, key: str, fingerprint: str) -> SimOrder | None:
        seen = self.keys.get((op, key))
        if seen is None:
            return None
        if seen[1] != fingerprint:
            raise HTTPException(409, "this Idempotency-Key was used for a different request")
        return self.orders[seen[0]]

    # -- what happens later (scheduler thread) ----------------------------------------

    def _later(self, delay: float, order_id: str, step: Callable[[SimOrder], None]) -> None:
        generation = self.generation

        def run() -> None:
            with self.lock:
                order = self.orders.get(order_id)
                if generation == self.generation and order is not None:
                    step(order)

        self.scheduler.at(delay, run)

    def _progress(self, order: SimOrder) -> None:
        if order.status is not OrderStatus.PENDING:
            return  # cancelled meanwhile
        if order.suspend:
            order.status = OrderStatus.SUSPENDED
            log.info("order suspended", order=order.id)
            self._emit(order, "order.suspended")
            return
        order.report = build_report(order, vendor=self.config.name)
        order.result = order.report.result
        order.status = OrderStatus.COMPLETE
        log.info("order completed", order=order.id, result=order.result.value)
        self._emit(order, "order.completed")

    def _reinvestigated(self, order: SimOrder) -> None:
        if order.status is not OrderStatus.DISPUTED:
            return
        order.status = OrderStatus.COMPLETE
        order.reinvestigated_at = datetime.now(UTC)
        log.info("reinvestigation completed", order=order.id)
        self._emit(order, "order.reinvestigation_completed")

    # -- webhooks ----------------------------------------------------------------------

    def _emit(self, order: SimOrder, kind: str) -> None:
        """Queue the webhook for ``order``, shaped by the current faults (lock held)."""
        url = self.config.webhook_url
        if url is None:
            return
        if self.faults.drop_webhooks:
            self.stats.webhooks_dropped += 1
            return
        event = Webhook(
            url=url,
            msg_id=f"msg_{secrets.token_hex(12)}",
            body={
                "type": kind,
                "data": {
                    "id": order.id,
                    "external_id": order.external_id,
                    "status": order.status.value,
                },
            },
        )
        if self.faults.reorder_webhooks and kind == "order.acknowledged":
            order.held.append(event)  # sent after the order's next webhook
            return
        events, order.held = [event, *order.held], []
        copies = 2 if self.faults.duplicate_webhooks else 1  # a redelivery: the same id
        for each in events:
            for _ in range(copies):
                self.scheduler.at(0, self._delivery(each, self.generation, attempt=1))

    def _delivery(self, event: Webhook, generation: int, attempt: int) -> Callable[[], None]:
        def deliver() -> None:
            ok = self._post(event)
            with self.lock:
                if generation != self.generation:
                    return
                if ok:
                    self.stats.webhooks_sent += 1
                elif attempt < WEBHOOK_ATTEMPTS:
                    retry = self._delivery(event, generation, attempt + 1)
                    self.scheduler.at(0.2 * 2**attempt, retry)
                else:
                    self.stats.webhooks_failed += 1
                    log.warning("webhook given up", order=event.order_id, type=event.kind)

        return deliver

    def _post(self, event: Webhook) -> bool:
        """One signed delivery attempt (signed now, as a real retry would be)."""
        body = json.dumps(event.body).encode()
        headers = self.signer.sign(body, msg_id=event.msg_id)
        try:
            response = self._http.post(
                event.url, content=body, headers={**headers, "Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            log.warning("webhook failed", order=event.order_id, error=type(exc).__name__)
            return False
        log.info(
            "webhook delivered" if response.is_success else "webhook refused",
            order=event.order_id,
            type=event.kind,
            status=response.status_code,
        )
        return response.is_success


def build_report(order: SimOrder, *, vendor: str) -> Report:
    """The deterministic report: a record in Suffolk County for a ``consider`` subject."""
    now = datetime.now(UTC)

    def record(source: str) -> Finding:
        return Finding(
            jurisdiction="Suffolk County, MA",
            offense="Shoplifting by asportation (G.L. c. 266, § 30A)",
            severity="misdemeanor",
            disposition="Guilty, fine paid",
            offense_date=date(2017, 5, 12),
            disposition_date=date(2017, 8, 30),
            source=source,
        )

    hits = {
        "Massachusetts CORI": [record("MA DCJIS iCORI")],
        "County criminal (Suffolk, MA)": [record("Boston Municipal Court, Central Division")],
    }
    names = ("SSN trace", "National criminal database", *hits)
    checks = [
        Check(
            name=name,
            status=Result.CONSIDER if order.consider and name in hits else Result.CLEAR,
            completed_at=now,
            findings=hits[name] if order.consider and name in hits else [],
        )
        for name in names
    ]
    return Report(
        vendor=vendor,
        reference=order.id,
        package=order.package,
        result=Result.CONSIDER if order.consider else Result.CLEAR,
        completed_at=now,
        checks=checks,
    )


def _fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------------------- HTTP app

IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=255)]


def create_app(config: SimConfig) -> FastAPI:
    sim = Simulator(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sim.start()
        log.info("vendor-sim ready", webhook_url=config.webhook_url, delay=config.delay_seconds)
        yield
        sim.stop()
        log.info("vendor-sim stopped")

    app = FastAPI(title=config.name, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.sim = sim
    app.middleware("http")(_guard(sim))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Like bgcheck's API: say where, never echo the values (they may be an SSN).
        errors = [
            {"field": ".".join(str(part) for part in err["loc"]), "message": err["msg"]}
            for err in exc.errors()
        ]
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/v1/orders", status_code=201)
    async def place_order(body: OrderIn, key: IdempotencyKey, response: Response) -> Any:
        with sim.lock:
            order, created = sim.place(key, body)
            response.status_code = 201 if created else 200
            return order.to_json()

    @app.get("/v1/orders/{order_id}")
    async def get_order(order_id: str) -> Any:
        with sim.lock:
            return _find(sim, order_id).to_json()

    @app.post("/v1/orders/{order_id}/cancel")
    async def cancel_order(order_id: str, key: IdempotencyKey) -> Any:
        with sim.lock:
            return sim.cancel(key, _find(sim, order_id)).to_json()

    @app.post("/v1/orders/{order_id}/reinvestigations")
    async def reinvestigate(order_id: str, body: ReinvestigationIn, key: IdempotencyKey) -> Any:
        del body  # the statement is the candidate's; a simulator has no use for it
        with sim.lock:
            return sim.reinvestigate(key, _find(sim, order_id)).to_json()

    @app.post("/_sim/faults")
    async def set_faults(faults: Faults) -> Any:
        with sim.lock:
            sim.faults = faults
        log.info("faults set", **faults.model_dump(exclude_defaults=True))
        return faults.model_dump()

    @app.get("/_sim/stats")
    async def stats() -> Any:
        with sim.lock:
            return sim.stats.to_json()

    @app.post("/_sim/reset")
    async def reset() -> Any:
        sim.reset()
        return {"ok": True}

    return app


def _find(sim: Simulator, order_id: str) -> SimOrder:
    order = sim.orders.get(order_id)
    if order is None:
        raise HTTPException(404, "no such order")
    return order


Handler = Callable[[Request], Awaitable[Response]]


def _guard(sim: Simulator) -> Callable[[Request, Handler], Awaitable[Response]]:
    """Authentication, request counting and the injected failures, before any route."""
    expected = f"Bearer {sim.config.api_key}".encode()

    async def guard(request: Request, call_next: Handler) -> Response:
        path = request.url.path
        if not path.startswith(("/v1/", "/_sim/")):
            return await call_next(request)
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return JSONResponse(
                {"detail": "missing or wrong API key"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if path.startswith("/_sim/"):
            return await call_next(request)
        with sim.lock:
            if request.method == "POST" and path == "/v1/orders":
                sim.stats.order_requests += 1
                sim.stats.requests_by_key[request.headers.get("idempotency-key", "")] += 1
            faults = sim.faults
            fail = faults.fail_next > 0 or sim.random.random() < faults.fail_rate
            if faults.fail_next > 0:
                sim.faults = faults.model_copy(update={"fail_next": faults.fail_next - 1})
            hang = not fail and sim.random.random() < faults.timeout_rate
        if fail:
            return JSONResponse({"detail": "injected failure"}, status_code=503)
        response = await call_next(request)
        if hang:  # the work is done, the answer comes too late: the client must retry
            await asyncio.sleep(faults.hang_seconds)
        return response

    return guard
