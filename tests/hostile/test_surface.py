"""The discovery the suite relies on: forms and fields read from a page as a browser would
send them, links kept on the site, routes filled in."""

from __future__ import annotations

from tests.hostile.surface import Field, concrete, parse_page

PAGE = """
<a href="/settings">s</a> <a href="https://elsewhere.example/x">x</a> <a href="?page=2">2</a>
<form method="post" action="/settings/theme?next=/">
  <input type="hidden" name="csrf_token" value="T">
  <select name="theme"><option value="light">Light</option><option value="dark">Dark</option>
  </select>
  <input type="radio" name="density" value="compact">
  <input type="radio" name="density" value="cozy">
  <input type="checkbox" name="remember" value="on">
  <textarea name="bio">typed before</textarea>
  <input name="nick" value="typed before"><input type="email" name="email">
  <button type="submit" name="go">Save</button><input type="submit" value="Save">
</form>
<form action="https://elsewhere.example/search"><input name="q"></form>
<form><input type="search" name="q"></form>
"""


def test_forms_are_read_as_a_browser_sends_them() -> None:
    forms, links = parse_page("/admin", PAGE)
    assert [(form.method, form.action) for form in forms] == [
        ("POST", "/settings/theme?next=/"),
        ("GET", "/admin"),  # no action: the page itself; the off-site form is left out
    ]
    assert forms[0].fields == (
        Field("csrf_token", "hidden", "T"),
        Field("theme", "select", "light"),  # the first choice
        Field("density", "radio", "compact"),  # one field per group
        Field("remember", "checkbox", "on"),
        Field("bio", "textarea", ""),  # what a user types starts empty
        Field("nick", "text", ""),
        Field("email", "email", ""),
    )
    assert forms[0].path == "/settings/theme"
    assert links == ["/settings", "/admin?page=2"]


def test_route_variables_are_filled_in() -> None:
    assert concrete("/admin/users/<int:user_id>/<action>", "x") == "/admin/users/1/x"
    assert concrete("/auth/oauth/<provider>/login", "github") == "/auth/oauth/github/login"
