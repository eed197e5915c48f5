"""The search page end to end in headless Chromium (Debian's chromium + chromium-driver,
driven by Selenium): type a query and see result images; drop an image and see results;
click a result to search by it."""

from __future__ import annotations

import base64
import shutil

import pytest
from test_serve import LiveServer

from jointspace.retrieval import Retriever
from jointspace.serve import create_app

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (make setup installs them)")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(photo_index, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    out, root = photo_index
    with LiveServer(create_app(Retriever.load(out))) as server:
        browser.get(server.url + "/")
        WebDriverWait(browser, 30).until(
            lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
        yield browser, root


def results(browser, timeout: float = 30) -> list[dict]:
    """The result grid once its images have loaded: id, caption and image size per card."""
    from selenium.webdriver.support.ui import WebDriverWait

    script = """
      const cards = [...document.querySelectorAll('#results figure.result')];
      if (!cards.length || cards.some(c => !c.querySelector('img').complete)) return null;
      return cards.map(c => ({id: c.querySelector('.id').textContent,
                              caption: c.querySelector('.caption').textContent,
                              width: c.querySelector('img').naturalWidth}));
    """
    return WebDriverWait(browser, timeout).until(lambda d: d.execute_script(script))


def clear(browser) -> None:
    browser.execute_script("document.getElementById('results').replaceChildren()")


def test_type_a_query_and_see_matching_images(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser, _ = page
    clear(browser)
    box = browser.find_element(By.ID, "query")
    box.clear()
    box.send_keys("a rocket on the launch pad", Keys.ENTER)
    cards = results(browser)
    assert len(cards) == 24 and all(card["width"] > 0 for card in cards)  # thumbnails load
    assert cards[0]["caption"].startswith("a rocket on the launch pad")
    assert "results for" in browser.find_element(By.ID, "status").text


def test_drop_an_image_and_see_its_look_alikes(page):
    browser, root = page
    clear(browser)
    data = base64.b64encode((root / "hubble" / "2.png").read_bytes()).decode()
    browser.execute_script("""
      const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'dropped.png', {type: 'image/png'}));
      document.getElementById('drop').dispatchEvent(
        new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
    """, data)
    cards = results(browser)
    assert cards[0]["id"] == "hubble/2.png"


def test_choose_a_file_then_click_a_result_to_search_by_it(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser, root = page
    clear(browser)
    browser.find_element(By.ID, "file").send_keys(str(root / "coffee" / "0.png"))
    cards = results(browser)
    assert cards[0]["id"] == "coffee/0.png"
    second = cards[1]["id"]
    browser.find_elements(By.CSS_SELECTOR, "#results figure")[1].click()
    status = "return document.getElementById('status').textContent"
    WebDriverWait(browser, 30).until(lambda d: f"item {second}" in d.execute_script(status))
    assert results(browser)[0]["id"] == second


def test_an_error_is_shown_not_swallowed(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser, _ = page
    data = base64.b64encode(b"not an image at all").decode()
    browser.execute_script("""
      const transfer = new DataTransfer();
      transfer.items.add(new File([atob(arguments[0])], 'fake.png', {type: 'image/png'}));
      document.getElementById('drop').dispatchEvent(
        new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
    """, data)
    WebDriverWait(browser, 30).until(
        lambda d: "not an image" in d.find_element(By.ID, "status").text)
    assert "error" in browser.find_element(By.ID, "status").get_attribute("class")
