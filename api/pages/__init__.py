"""Server-rendered pages for the people who use bgcheck (docs/pages.md).

``router`` holds every page; none of them is part of the API's OpenAPI document.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.pages import access, account, admin, audit, cases, portal, signin

router = APIRouter(include_in_schema=False)
router.include_router(signin.router)
router.include_router(account.router)
router.include_router(cases.router)
router.include_router(portal.router)
router.include_router(audit.router)
router.include_router(access.router)
router.include_router(admin.router)
