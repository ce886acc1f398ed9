from accounts.tests.factories import agent


def test_an_agent_can_log_in_through_the_browser(page, roles, screenshot):
    agent(username="lucia", password="a-long-passphrase")
    page.goto("/login/")
    page.get_by_label("Username").fill("lucia")
    page.get_by_label("Password").fill("a-long-passphrase")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert "/login/" not in page.url
    assert screenshot(page, "after-login").stat().st_size > 0
