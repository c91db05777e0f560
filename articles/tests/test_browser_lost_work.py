"""A refused save in a real browser, on a phone and a desktop: the reporter's words stay in the
form with the reason, and the page passes axe-core."""

import pytest
from django.contrib.auth.models import Group

from articles import services
from articles.models import Article, Byline
from articles.workflow import Action

from .browser import AXE, load_axe
from .factories import make_article, make_author, make_category, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Newsdesk-1"
TYPED = "The council voted 7 to 2 after a four-hour debate."


def _axe_violations(page) -> list:
    if not AXE.exists():
        pytest.fail("axe-core is not installed: run `make browser-deps`")
    load_axe(page)
    return page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )


@pytest.mark.parametrize("width", [390, 1280])
def test_a_save_refused_after_an_editor_published_keeps_the_reporters_text(
    chromium, live_server, width
):
    rita = make_user(
        f"rita{width}", groups=[Group.objects.get(name="Reporters")], password=PASSWORD
    )
    editor = make_user(f"ed{width}", groups=[Group.objects.get(name="Editors")])
    draft = make_article("Council vote", status=Article.Status.DRAFT, category=make_category())
    draft.created_by = rita
    draft.save()
    Byline.objects.create(article=draft, author=make_author("Rita Reporter", user=rita))

    context = chromium.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", rita.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/articles/article/{draft.pk}/change/")
    page.fill("#id_body", TYPED)
    services.article_save(Article.objects.get(pk=draft.pk), user=editor, action=Action.PUBLISH)
    page.click("button[value=save]")

    page.wait_for_selector(".errornote")
    assert "Your changes were not saved. It is now published" in page.inner_text("#content")
    assert page.input_value("#id_body") == TYPED
    assert page.locator("button[name=_action]").count() == 0
    assert TYPED not in Article.objects.get(pk=draft.pk).body
    violations = _axe_violations(page)
    summary = [(v["id"], [n["target"] for n in v["nodes"]][:4]) for v in violations]
    assert summary == [], summary
    context.close()
