"""The web playground at / in a real browser: Debian's headless Chromium
driven by selenium through Debian's chromium-driver (test-only: apt
chromium chromium-driver; pip selenium).  Compiles a toy program through the
page (live progress), runs an input and checks the output shown against
`paw run`; saves a screenshot under the build folder."""
import os
import shutil

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import BUILD, ROOT, Server, paw_run


def browser():
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,900"):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    assert os.path.exists(opts.binary_location) and os.path.exists(driver), \
        "needs Debian's chromium and chromium-driver"
    return webdriver.Chrome(service=Service(driver), options=opts)


def test_playground_compile_and_run(tmp_path):
    cache = str(tmp_path)   # a cache of its own: the other tests count programs
    srv = Server(cache, "-t", "2")
    d = browser()
    try:
        d.get(srv.url + "/")
        assert d.title == "paw playground"
        d.find_element(By.ID, "spec").send_keys("Answer YES if the word names an animal, else NO.")
        d.find_element(By.ID, "examples").send_keys(
            "cat => YES\ntable => NO\ndog => YES\nchair => NO\nhorse => YES\nlamp => NO")
        d.find_element(By.ID, "alias").send_keys("animal")
        steps = d.find_element(By.ID, "steps")
        steps.clear()
        steps.send_keys("2")
        d.find_element(By.ID, "compile").click()
        # the progress bar moves, then the page reports the new program
        WebDriverWait(d, 900, poll_frequency=0.5).until(
            lambda d: d.find_element(By.ID, "cstatus").text.startswith(("compiled:", "failed", "cancelled")))
        status = d.find_element(By.ID, "cstatus").text
        assert status.startswith("compiled: "), status
        pid = status.split("compiled: ")[1].strip()
        assert d.find_element(By.CSS_SELECTOR, "#bar > div").get_attribute("style").find("100%") >= 0
        WebDriverWait(d, 30).until(lambda d: Select(d.find_element(By.ID, "program")).first_selected_option
                                   .get_attribute("value") == pid)
        d.find_element(By.ID, "input").send_keys("zebra")
        d.find_element(By.ID, "run").click()
        WebDriverWait(d, 120).until(lambda d: " ms on the server" in d.find_element(By.ID, "latency").text)
        shown = d.find_element(By.ID, "output").text
        assert shown == paw_run(cache, pid, "zebra")
        href = d.find_element(By.ID, "download").get_attribute("href")
        assert href.endswith(f"/api/v1/programs/{pid}/download")
        rows = d.find_elements(By.CSS_SELECTOR, "#programs tr")   # the list shows it
        assert len(rows) == 1 and pid in rows[0].text and "animal" in rows[0].text
        out = os.path.join(ROOT, BUILD, "tests", "playground.png")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        d.save_screenshot(out)
        assert os.path.getsize(out) > 10000
    finally:
        d.quit()
        assert srv.stop() == 0
