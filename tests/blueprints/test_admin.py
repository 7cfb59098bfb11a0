"""Administration: only admins, every action audited, the last admin protected."""

from __future__ import annotations

import re

from quart import Quart

from service.db import queries
from service.extensions import db
from tests.accounts import create_user, post, signed_in


async def make_admin(app: Quart, email: str) -> int:
    async with app.app_context(), db.session() as session:
        user = await queries.select_user_by_email(session, email=email)
        assert user is not None
        user.is_admin = True
        await session.commit()
        return user.id


async def test_non_admins_get_403_and_strangers_sign_in(app: Quart, running_app: object) -> None:
    await create_user(app)
    stranger = app.test_client()
    assert (await stranger.get("/admin")).status_code == 302
    user = await signed_in(app)
    for path in ("/admin", "/admin/audit"):
        response = await user.get(path)
        assert response.status_code == 403
    refused = await post(user, "/admin/users/1/grant-admin")
    assert refused.status_code == 403


async def test_admin_searches_pages_and_manages_users(app: Quart, running_app: object) -> None:
    await create_user(app, "root@example.com")
    await make_admin(app, "root@example.com")
    for number in range(30):
        await create_user(app, f"user{number:02}@example.com")
    root = await signed_in(app, "root@example.com")

    first = await (await root.get("/admin")).get_data(as_text=True)
    assert "(31)" in first
    assert len(re.findall(r'class="page-item', first)) == 2
    found = await (await root.get("/admin?q=user07")).get_data(as_text=True)
    assert "user07@example.com" in found
    assert "user08@example.com" not in found
    wildcard = await (await root.get("/admin?q=%25")).get_data(as_text=True)
    assert "No users match." in wildcard  # LIKE wildcards are escaped

    victim = await signed_in(app, "user07@example.com")
    async with app.app_context(), db.session() as session:
        target = await queries.select_user_by_email(session, email="user07@example.com")
        assert target is not None
    assert (await post(root, f"/admin/users/{target.id}/disable")).status_code == 302
    assert (await victim.get("/settings")).status_code == 302  # signed out at once
    assert (await post(root, f"/admin/users/{target.id}/enable")).status_code == 302
    assert (await post(root, f"/admin/users/{target.id}/grant-admin")).status_code == 302

    audit = await (await root.get("/admin/audit")).get_data(as_text=True)
    for action in ("admin.disabled", "admin.enabled", "admin.granted", "login.ok"):
        assert action in audit


async def test_the_last_admin_cannot_be_removed(app: Quart, running_app: object) -> None:
    await create_user(app, "root@example.com")
    root_id = await make_admin(app, "root@example.com")
    root = await signed_in(app, "root@example.com")
    await post(root, f"/admin/users/{root_id}/revoke-admin")
    page = await (await root.get("/admin")).get_data(as_text=True)
    assert "last active administrator" in page
    await post(root, f"/admin/users/{root_id}/disable")
    assert "cannot disable your own account" in await (await root.get("/admin")).get_data(
        as_text=True
    )
    async with app.app_context(), db.session() as session:
        assert await queries.count_active_admins(session) == 1
