"""The gateway's pages in a real headless Chromium (selenium): `pages.py GATEWAY_URL [SHOTS_DIR]`.

What a person pointed at the gateway sees: `/` says what Malha is and links to the docs and the
document; `/docs` lists every public operation and its links work; nothing is fetched from another
origin (no CDN) and the browser logs no error. Exits 1 with what failed.
"""

import json
import sys
from urllib.parse import urlparse

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def same_origin_resources(driver, origin):
    entries = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return [url for url in entries if urlparse(url).netloc != origin]


def main(gateway, shots=None):
    origin = urlparse(gateway).netloc
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.set_page_load_timeout(20)
        driver.set_window_size(1280, 900)
        driver.get(gateway + "/")
        if shots:
            driver.save_screenshot(shots + "/landing.png")
        check(driver.title == "Malha", f"/ has the title Malha (got {driver.title!r})")
        check(driver.find_element(By.TAG_NAME, "h1").text == "Malha", "/ says Malha in its heading")
        text = driver.find_element(By.TAG_NAME, "body").text
        for system in ("Platform", "TechStore e-commerce", "Cash flow", "Web pages"):
            check(system in text, f"/ describes {system}")
        check(same_origin_resources(driver, origin) == [], "/ loads nothing from another origin")

        driver.find_element(By.LINK_TEXT, "API documentation").click()
        check(driver.current_url.rstrip("/").endswith("/docs"), f"the docs link opens /docs ({driver.current_url})")
        check(driver.find_element(By.TAG_NAME, "h1").text == "Malha", "/docs is the merged document's page")
        operations = driver.find_elements(By.CSS_SELECTOR, "article.op")
        check(len(operations) >= 50, f"/docs shows every public operation ({len(operations)})")
        check(len(driver.find_elements(By.ID, "op-postV1Orders")) == 1, "/docs documents POST /v1/orders")
        checkout = driver.find_element(By.ID, "op-postV1Orders").text
        check("Idempotency-Key" in checkout, "the checkout operation shows its Idempotency-Key header")
        if shots:
            driver.save_screenshot(shots + "/docs.png")
        link = driver.find_element(By.CSS_SELECTOR, 'nav a[href="#op-postV1Orders"]')
        # The sidebar scrolls on its own, as a person would scroll it to the link.
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
        link.click()
        check(driver.current_url.endswith("#op-postV1Orders"), "a nav link goes to its operation")
        check(same_origin_resources(driver, origin) == [], "/docs loads nothing from another origin")

        driver.find_element(By.LINK_TEXT, "openapi.json").click()
        body = driver.find_element(By.TAG_NAME, "body").text
        try:
            document = json.loads(body)
        except ValueError:
            document = {}
        check(document.get("openapi") == "3.1.0", "the openapi.json link serves the OpenAPI 3.1 document")
        check("/v1/orders" in (document.get("paths") or {}), "the document holds the services' routes")

        errors = [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]
        check(errors == [], f"the browser logged no error {errors[:3]}")
    finally:
        driver.quit()
    if failures:
        print(f"pages: {len(failures)} failed", file=sys.stderr)
        sys.exit(1)
    print("pages: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"), sys.argv[2] if len(sys.argv) > 2 else None)
