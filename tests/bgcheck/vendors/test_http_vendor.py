"""``HttpVendor`` against a real ``bgcheck vendor-sim`` process, faults included."""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from bgcheck.platform.settings import load_settings
from bgcheck.vendors.base import (
    Order,
    OrderRequest,
    OrderStatus,
    VendorError,
    VendorRejected,
)
from bgcheck.vendors.http import HttpVendor
from bgcheck.vendors.report import Result
from bgcheck.vendors.signatures import StandardWebhooks

from conftest import Delivery, WebhookReceiver, make_subject, wait_until
from support.vendor_sim import RunningSim, running_sim

CONSIDER_SSN = "123450000"


@pytest.fixture(scope="module")
def sim(receiver: WebhookReceiver) -> Iterator[RunningSim]:
    with running_sim(webhook_url=receiver.url, delay=0.2) as running:
        yield running


@pytest.fixture
def vendor(sim: RunningSim) -> Iterator[HttpVendor]:
    sim.reset()
    with connect(sim) as adapter:
        yield adapter


def connect(sim: RunningSim, **options: object) -> HttpVendor:
    defaults = {"base_url": sim.url, "api_key": sim.api_key, "timeout_seconds": 5.0}
    return HttpVendor(webhooks=StandardWebhooks(sim.secret), **{**defaults, **options})  # type: ignore[arg-type]


def order_request(
    key: str = "case-1:order", ssn: str = "123456789", **changes: str
) -> OrderRequest:
    fields = {"idempotency_key": key, "external_id": "case-1", "package": "standard", **changes}
    return OrderRequest(subject=make_subject(ssn), **fields)


def settled(vendor: HttpVendor, reference: str) -> Order:
    """The order once the vendor has finished with it (no longer pending or disputed)."""

    def done() -> Order | None:
        order = vendor.fetch(reference)
        return None if order.status in (OrderStatus.PENDING, OrderStatus.DISPUTED) else order

    return wait_until(done, f"order {reference} to settle")


# ---------------------------------------------------------------------------- orders


def test_the_same_key_twice_places_one_order(vendor: HttpVendor, sim: RunningSim) -> None:
    first = vendor.place_order(order_request())
    again = vendor.place_order(order_request())

    assert again.reference == first.reference
    assert first.status is OrderStatus.PENDING
    stats = sim.stats()
    assert stats["orders"] == 1
    assert stats["order_requests"] == 2
    assert stats["requests_by_key"] == {"case-1:order": 2}
    assert stats["orders_by_external_id"] == {"case-1": 1}


def test_a_clear_subject_completes_with_a_clear_report(vendor: HttpVendor) -> None:
    placed = vendor.place_order(order_request())

    order = settled(vendor, placed.reference)

    assert order.status is OrderStatus.COMPLETE
    assert order.result is Result.CLEAR
    assert order.report is not None
    assert order.report.reference == placed.reference
    assert order.report.package == "standard"
    assert order.report.findings == []
    assert {check.name for check in order.report.checks} >= {
        "SSN trace",
        "National criminal database",
        "Massachusetts CORI",
        "County criminal (Suffolk, MA)",
    }


def test_an_ssn_ending_0000_gets_a_criminal_record(vendor: HttpVendor) -> None:
    placed = vendor.place_order(order_request(ssn=CONSIDER_SSN))

    order = settled(vendor, placed.reference)

    assert order.result is Result.CONSIDER
    assert order.report is not None
    assert order.report.result is Result.CONSIDER
    finding = order.report.findings[0]
    assert finding.jurisdiction == "Suffolk County, MA"
    assert finding.severity == "misdemeanor"
    assert finding.offense_date is not None
    assert finding.source


def test_a_key_reused_for_another_order_is_refused(vendor: HttpVendor) -> None:
    vendor.place_order(order_request())

    with pytest.raises(VendorRejected, match="409"):
        vendor.place_order(order_request(external_id="case-2"))


def test_an_unknown_order_is_refused(vendor: HttpVendor) -> None:
    with pytest.raises(VendorRejected, match="404"):
        vendor.fetch("ord_unknown")


def test_a_refused_order_names_the_call_but_no_pii(vendor: HttpVendor) -> None:
    bad = OrderRequest("k", "case-1", "standard", make_subject("12345", given_name="Zebulon"))

    with pytest.raises(VendorRejected, match="422") as caught:
        vendor.place_order(bad)

    assert "POST /v1/orders" in str(caught.value)
    assert "12345" not in str(caught.value)
    assert "Zebulon" not in str(caught.value)


def test_a_pending_order_can_be_cancelled_once(vendor: HttpVendor, sim: RunningSim) -> None:
    sim.faults(delay_seconds=600)  # the order stays pending
    placed = vendor.place_order(order_request())

    cancelled = vendor.cancel_order(placed.reference, idempotency_key="case-1:cancel")
    again = vendor.cancel_order(placed.reference, idempotency_key="case-1:cancel")

    assert cancelled.status is OrderStatus.CANCELLED
    assert again.status is OrderStatus.CANCELLED
    assert vendor.fetch(placed.reference).status is OrderStatus.CANCELLED


def test_a_complete_order_stays_complete_when_cancelled(vendor: HttpVendor) -> None:
    placed = vendor.place_order(order_request())
    settled(vendor, placed.reference)

    order = vendor.cancel_order(placed.reference, idempotency_key="case-1:cancel")

    assert order.status is OrderStatus.COMPLETE
    assert order.report is not None


def test_a_reinvestigation_disputes_then_completes_the_order(vendor: HttpVendor) -> None:
    placed = vendor.place_order(order_request(ssn=CONSIDER_SSN))
    settled(vendor, placed.reference)

    disputed = vendor.request_reinvestigation(
        placed.reference, idempotency_key="case-1:dispute-1", statement="That is not me."
    )
    order = settled(vendor, placed.reference)

    assert disputed.status is OrderStatus.DISPUTED
    assert disputed.reinvestigated_at is None
    assert order.status is OrderStatus.COMPLETE
    assert order.reinvestigated_at is not None
    replay = vendor.request_reinvestigation(
        placed.reference, idempotency_key="case-1:dispute-1", statement="That is not me."
    )
    assert replay.status is OrderStatus.COMPLETE  # the same request, not a second one
    assert replay.reinvestigated_at == order.reinvestigated_at


def test_an_order_not_yet_complete_cannot_be_reinvestigated(
    vendor: HttpVendor, sim: RunningSim
) -> None:
    sim.faults(delay_seconds=600)
    placed = vendor.place_order(order_request())

    with pytest.raises(VendorRejected, match="409"):
        vendor.request_reinvestigation(placed.reference, idempotency_key="k", statement="x")


def test_a_subject_the_vendor_needs_more_on_is_suspended(
    vendor: HttpVendor, sim: RunningSim
) -> None:
    sim.faults(suspend_ssn_suffix="9999")
    suspended = vendor.place_order(order_request("a", ssn="123459999", external_id="case-a"))
    normal = vendor.place_order(order_request("b", external_id="case-b"))

    assert settled(vendor, suspended.reference).status is OrderStatus.SUSPENDED
    assert settled(vendor, normal.reference).status is OrderStatus.COMPLETE
    cancelled = vendor.cancel_order(suspended.reference, idempotency_key="a:cancel")
    assert cancelled.status is OrderStatus.CANCELLED


def test_settings_configure_the_adapter(sim: RunningSim) -> None:
    sim.reset()
    settings = load_settings(**sim.settings_overrides(), vendor_poll_after_minutes=2)

    with HttpVendor.from_settings(settings) as vendor:
        order = vendor.place_order(order_request())

    assert vendor.poll_after_seconds == 120
    assert vendor.name == settings.vendor_name
    assert order.status is OrderStatus.PENDING


# ---------------------------------------------------------------------------- failures


def test_a_vendor_outage_is_retried_then_reported(vendor: HttpVendor, sim: RunningSim) -> None:
    sim.faults(fail_rate=1.0)

    with pytest.raises(VendorError, match="POST /v1/orders: the vendor answered 503"):
        vendor.place_order(order_request())

    assert sim.stats()["order_requests"] == 3  # the adapter's three attempts
    assert sim.stats()["orders"] == 0


def test_a_brief_outage_is_ridden_out_within_the_call(vendor: HttpVendor, sim: RunningSim) -> None:
    sim.faults(fail_next=2)

    order = vendor.place_order(order_request())

    assert order.status is OrderStatus.PENDING
    assert sim.stats()["orders"] == 1


def test_a_lost_answer_times_out_and_the_retry_finds_the_same_order(
    sim: RunningSim,
) -> None:
    sim.reset()
    sim.faults(timeout_rate=1.0, hang_seconds=3)  # the vendor works, the answer is late
    with connect(sim, timeout_seconds=0.3) as impatient:
        with pytest.raises(VendorError, match="timed out"):
            impatient.place_order(order_request())
        sim.faults()

        order = impatient.place_order(order_request())

    assert order.reference
    assert sim.stats()["order_requests"] == 4  # three lost answers, then one received
    assert sim.stats()["orders"] == 1


def test_a_wrong_api_key_is_refused(sim: RunningSim) -> None:
    sim.reset()
    with (
        connect(sim, api_key="not-the-key") as intruder,
        pytest.raises(VendorRejected, match="401"),
    ):
        intruder.place_order(order_request())

    assert sim.stats()["order_requests"] == 0


def test_the_control_endpoints_need_the_key(sim: RunningSim) -> None:
    assert httpx.get(f"{sim.url}/_sim/stats").status_code == 401
    assert httpx.post(f"{sim.url}/_sim/reset").status_code == 401


def test_an_unreachable_vendor_is_a_vendor_error(sim: RunningSim) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{sock.getsockname()[1]}"

    with (
        connect(sim, base_url=nobody) as down,
        pytest.raises(VendorError, match=r"GET /v1/orders/\{id\}: ConnectError"),
    ):
        down.fetch("ord_1")


@pytest.mark.parametrize(
    "answer",
    [
        b"<html>Service maintenance</html>",
        b'{"id": "ord_1"}',
        b'{"id": "ord_1", "status": "teleported"}',
        b'{"id": "ord_1", "status": "complete", "result": "clear"}',
        # A report that does not fit the shape; its contents must not leak into the error.
        json.dumps(
            {"id": "ord_1", "status": "complete", "report": {"ssn": "123-45-6789"}}
        ).encode(),
    ],
    ids=["html", "no-status", "unknown-status", "complete-without-report", "bad-report"],
)
def test_a_malformed_answer_is_a_vendor_error(answer: bytes, sim: RunningSim) -> None:
    # The simulator always answers well; a transport stands in for a broken vendor.
    broken = httpx.MockTransport(lambda _: httpx.Response(200, content=answer))
    with (
        connect(sim, transport=broken) as vendor,
        pytest.raises(VendorError, match="malformed answer") as caught,
    ):
        vendor.fetch("ord_1")

    assert "123-45-6789" not in str(caught.value)


def test_an_answer_about_another_order_is_a_vendor_error(sim: RunningSim) -> None:
    confused = httpx.MockTransport(
        lambda _: httpx.Response(200, json={"id": "ord_1", "status": "pending"})
    )
    with connect(sim, transport=confused) as vendor:
        with pytest.raises(VendorError, match="another order"):
            vendor.fetch("ord_2")
        with pytest.raises(VendorError, match="another order"):
            vendor.place_order(order_request())  # external_id "case-1", answered None


# ---------------------------------------------------------------------------- webhooks


def kinds(deliveries: list[Delivery]) -> list[str]:
    return [json.loads(each.body)["type"] for each in deliveries]


def test_webhooks_are_signed_and_name_the_order(
    vendor: HttpVendor, receiver: WebhookReceiver
) -> None:
    placed = vendor.place_order(order_request())

    deliveries = receiver.wait_for(placed.reference, 2)

    notices = [vendor.verify_webhook(each.headers, each.body) for each in deliveries]
    assert [notice.kind for notice in notices] == ["order.acknowledged", "order.completed"]
    assert {notice.reference for notice in notices} == {placed.reference}
    assert len({notice.delivery_id for notice in notices}) == 2


def test_cancel_and_reinvestigation_are_announced(
    vendor: HttpVendor, sim: RunningSim, receiver: WebhookReceiver
) -> None:
    placed = vendor.place_order(order_request("a", external_id="case-a"))
    settled(vendor, placed.reference)
    vendor.request_reinvestigation(placed.reference, idempotency_key="d", statement="Not me.")
    sim.faults(delay_seconds=600)
    pending = vendor.place_order(order_request("b", external_id="case-b"))
    vendor.cancel_order(pending.reference, idempotency_key="b:cancel")

    assert kinds(receiver.wait_for(placed.reference, 3))[-1] == "order.reinvestigation_completed"
    assert kinds(receiver.wait_for(pending.reference, 2)) == [
        "order.acknowledged",
        "order.cancelled",
    ]


def test_duplicate_webhooks_repeat_the_delivery_id(
    vendor: HttpVendor, sim: RunningSim, receiver: WebhookReceiver
) -> None:
    sim.faults(duplicate_webhooks=True)
    placed = vendor.place_order(order_request())

    deliveries = receiver.wait_for(placed.reference, 4)

    notices = [vendor.verify_webhook(each.headers, each.body) for each in deliveries]
    assert Counter(notice.kind for notice in notices) == {
        "order.acknowledged": 2,
        "order.completed": 2,
    }
    assert sorted(Counter(notice.delivery_id for notice in notices).values()) == [2, 2]


def test_reordered_webhooks_announce_completion_first(
    vendor: HttpVendor, sim: RunningSim, receiver: WebhookReceiver
) -> None:
    sim.faults(reorder_webhooks=True)
    placed = vendor.place_order(order_request())

    assert kinds(receiver.wait_for(placed.reference, 2)) == [
        "order.completed",
        "order.acknowledged",
    ]


def test_dropped_webhooks_never_arrive(
    vendor: HttpVendor, sim: RunningSim, receiver: WebhookReceiver
) -> None:
    sim.faults(drop_webhooks=True)
    placed = vendor.place_order(order_request())

    settled(vendor, placed.reference)  # the order completes all the same; polling finds it

    assert receiver.accepted(placed.reference) == []
    assert sim.stats()["webhooks_dropped"] == 2
    assert sim.stats()["webhooks_sent"] == 0


def test_a_refused_webhook_is_delivered_again(
    vendor: HttpVendor, sim: RunningSim, receiver: WebhookReceiver
) -> None:
    sim.faults(delay_seconds=600)
    receiver.fail_next = 1
    placed = vendor.place_order(order_request())

    [delivery] = receiver.wait_for(placed.reference, 1)

    assert vendor.verify_webhook(delivery.headers, delivery.body).kind == "order.acknowledged"
    wait_until(lambda: sim.stats()["webhooks_sent"] == 1, "the simulator to count the delivery")
    assert sim.stats()["webhooks_failed"] == 0


def test_the_simulator_logs_order_ids_not_the_subject(vendor: HttpVendor, sim: RunningSim) -> None:
    placed = vendor.place_order(order_request(ssn=CONSIDER_SSN))
    settled(vendor, placed.reference)

    log = sim.log()

    assert placed.reference in log
    for personal in ("Robin", "Quill", CONSIDER_SSN, "robin@example.org", "1990-04-01"):
        assert personal not in log
