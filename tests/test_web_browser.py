"""``llm code web`` in a real browser: Debian's chromium, headless, driven by Selenium through
``/usr/bin/chromedriver`` (nothing is downloaded). The server runs in this process in a thread,
so the scripted model of conftest answers it.

Start a task, see the diff, approve it, see the file change; decline with a reason and see the
model told; restart the server while a call waits and approve it after the restart. The first
test saves a screenshot of the approval page to docs/images/web-approval.png (the README shows it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from llm.cli import logs_db_path

from conftest import Step, tool
from llm_coding_agent.web.app import WebServer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "images" / "web-approval.png"
EDIT = tool("edit_file", path="app.py", old_string="def add(a, b):\n    return a - b\n",
            new_string="def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n")

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the [test] extra)")
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip(f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}): "
                "apt-get install chromium chromium-driver", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as seen  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def servers(project):
    """Start servers on free ports (all stopped at the end); the same logs for each."""
    started: list[WebServer] = []

    def start() -> WebServer:
        server = WebServer(logs_db_path(), directory=str(project), port=0, defaults={"sandbox": "off"})
        server.start_in_thread()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def wait(driver, condition, seconds: float = 30):
    return WebDriverWait(driver, seconds).until(condition)


def start_task(driver, server: WebServer, task: str) -> None:
    driver.get(server.url)
    Select(driver.find_element(By.ID, "model")).select_by_visible_text("scripted")
    driver.find_element(By.ID, "task").send_keys(task)
    driver.find_element(By.ID, "start").click()
    wait(driver, seen.url_contains("/session/"))


def approval_card(driver):
    return wait(driver, seen.visibility_of_element_located((By.CSS_SELECTOR, ".approval[data-call]")))


def test_start_see_the_diff_approve_and_the_file_changes(browser, servers, project, model):
    model.script(Step(tool_calls=[EDIT]), "Fixed: add() now adds.")
    server = servers()
    start_task(browser, server, "fix add in app.py")
    card = approval_card(browser)
    assert card.find_element(By.TAG_NAME, "h3").text == "Edit app.py?"
    marks = [m.text for m in card.find_elements(By.CSS_SELECTOR, ".diff.unified mark")]
    assert "-" in marks and "+" in marks  # the changed characters of `return a - b`, highlighted
    assert "def mul(a, b):" in card.find_element(By.CSS_SELECTOR, ".diff.unified").text
    browser.find_element(By.ID, "toggle-view").click()  # side by side
    split = card.find_element(By.CSS_SELECTOR, ".diff.split")
    assert split.is_displayed() and not card.find_element(By.CSS_SELECTOR, ".diff.unified").is_displayed()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(SCREENSHOT))
    assert "return a - b" in (project / "app.py").read_text()

    card.find_element(By.CSS_SELECTOR, "button.approve").click()
    wait(browser, seen.text_to_be_present_in_element((By.ID, "log"), "Fixed: add() now adds."))
    wait(browser, seen.text_to_be_present_in_element((By.ID, "state"), "idle"))
    assert "✓ edit_file app.py" in browser.find_element(By.ID, "log").text
    assert "return a + b" in (project / "app.py").read_text()
    assert not browser.find_elements(By.CSS_SELECTOR, ".approval")


def test_decline_with_a_reason_and_the_model_is_told(browser, servers, project, model):
    model.script(Step(tool_calls=[EDIT]), "Understood, I will use operator.add instead.")
    server = servers()
    start_task(browser, server, "fix add in app.py")
    card = approval_card(browser)
    card.find_element(By.CSS_SELECTOR, "input.reason").send_keys("use operator.add")
    card.find_element(By.CSS_SELECTOR, "button.decline").click()
    wait(browser, seen.text_to_be_present_in_element((By.ID, "log"), "Understood, I will use operator.add"))
    log = browser.find_element(By.ID, "log").text
    assert "✗ edit_file app.py" in log and "the user declined this call: use operator.add" in log
    told = [r.output for r in model.prompts[-1].tool_results]
    assert told and "the user declined this call: use operator.add" in told[0]
    assert "return a - b" in (project / "app.py").read_text()


def test_restart_the_server_mid_approval_and_approve_after_it(browser, servers, project, model):
    model.script(Step(tool_calls=[EDIT]), "Fixed after the restart.")
    first = servers()
    start_task(browser, first, "fix add in app.py")
    approval_card(browser)
    session_path = browser.current_url.split(f":{first.port}", 1)[1]
    first.stop()

    second = servers()
    assert second.token != first.token
    browser.get(second.url)  # the new token (the old cookie is for the old port and token)
    browser.get(f"http://127.0.0.1:{second.port}{session_path}")
    card = approval_card(browser)
    assert card.find_element(By.TAG_NAME, "h3").text == "Edit app.py?"
    assert "fix add in app.py" in browser.find_element(By.ID, "log").text  # the transcript, from the logs
    card.find_element(By.CSS_SELECTOR, "button.approve").click()
    wait(browser, seen.text_to_be_present_in_element((By.ID, "log"), "Fixed after the restart."))
    assert "return a + b" in (project / "app.py").read_text()


def test_the_session_browser_and_stats_pages_render(browser, servers, project, model):
    model.script("Nothing to change.")
    server = servers()
    start_task(browser, server, "look around")
    wait(browser, seen.text_to_be_present_in_element((By.ID, "log"), "Nothing to change."))
    browser.get(f"http://127.0.0.1:{server.port}/sessions")
    row = wait(browser, seen.visibility_of_element_located((By.CSS_SELECTOR, "table.sessions tbody tr")))
    assert "look around" in row.text and "scripted" in row.text
    browser.get(f"http://127.0.0.1:{server.port}/stats")
    assert wait(browser, seen.visibility_of_element_located((By.CSS_SELECTOR, "figure.chart svg")))
    assert shutil.which(CHROMIUM)
