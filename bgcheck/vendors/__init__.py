"""Screening vendors: one interface (``base.Vendor``), an adapter per kind of vendor.

``make_vendor`` picks the deployment's adapter from ``BGCHECK_VENDOR``: the in-process
sandbox (the embedded default) or a JSON-over-HTTP vendor with signed webhooks.
"""

from __future__ import annotations

from bgcheck.platform.settings import Settings
from bgcheck.vendors.base import (
    Order,
    OrderRequest,
    OrderStatus,
    Subject,
    Vendor,
    VendorError,
    VendorRejected,
    WebhookNotice,
    WebhookRejected,
)
from bgcheck.vendors.report import Check, Finding, Report, Result

__all__ = [
    "Check",
    "Finding",
    "Order",
    "OrderRequest",
    "OrderStatus",
    "Report",
    "Result",
    "Subject",
    "Vendor",
    "VendorError",
    "VendorRejected",
    "WebhookNotice",
    "WebhookRejected",
    "make_vendor",
]


def make_vendor(settings: Settings) -> Vendor:
    if settings.vendor == "http":
        from bgcheck.vendors.http import HttpVendor  # only deployments that use it pay for it

        return HttpVendor.from_settings(settings)
    from bgcheck.vendors.sandbox import SandboxVendor

    return SandboxVendor(name=settings.vendor_name, delay_seconds=settings.sandbox_delay_seconds)
