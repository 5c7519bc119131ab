"""A minimal W3C WebDriver client over urllib (Python 3 standard library only), enough for the
dashboard's browser test (tests/browser/dashboard.py): a session with Chromium's options,
navigation, finding elements, text, clicks, typing, running a script, the browser's console log
and a screenshot.  https://www.w3.org/TR/webdriver2/"""
import base64
import json
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C web element identifier's key


class WebDriverError(Exception):
    pass


class Element:
    def __init__(self, session, eid):
        self.session, self.id = session, eid

    def _url(self, path=""):
        return "/element/%s%s" % (self.id, path)

    @property
    def text(self):
        return self.session.cmd("GET", self._url("/text"))

    def click(self):
        self.session.cmd("POST", self._url("/click"), {})

    def clear(self):
        self.session.cmd("POST", self._url("/clear"), {})

    def send_keys(self, text):
        self.session.cmd("POST", self._url("/value"), {"text": text})

    def attribute(self, name):
        return self.session.cmd("GET", self._url("/attribute/%s" % name))

    def property(self, name):
        return self.session.cmd("GET", self._url("/property/%s" % name))


class Session:
    def __init__(self, url, capabilities, timeout=60):
        self.base = url.rstrip("/")
        self.timeout = timeout
        value = self._request("POST", self.base + "/session", {"capabilities": capabilities})
        self.id = value["sessionId"]
        self.capabilities = value.get("capabilities", {})

    def _request(self, method, url, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                answer = json.loads(r.read().decode("utf-8") or "{}")
        except urllib.error.HTTPError as e:
            try:
                v = json.loads(e.read().decode("utf-8")).get("value", {})
            except ValueError:
                v = {}
            raise WebDriverError("%s %s: HTTP %d %s: %s" % (method, url.replace(self.base, ""), e.code,
                                                            v.get("error", ""), (v.get("message") or "").splitlines()[0:1]))
        return answer.get("value")

    def cmd(self, method, path, body=None):
        return self._request(method, "%s/session/%s%s" % (self.base, self.id, path), body)

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def find_all(self, css):
        return [Element(self, e[ELEMENT]) for e in self.cmd("POST", "/elements", {"using": "css selector", "value": css})]

    def find(self, css):
        found = self.find_all(css)
        return found[0] if found else None

    def execute(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def text(self, css):
        """The rendered text of the first element matching css, or None (in one round trip)."""
        return self.execute("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)

    def log(self, kind="browser"):
        """The browser's console log since the last call (a ChromeDriver extension); None when the
        driver does not offer it."""
        try:
            return self.cmd("POST", "/se/log", {"type": kind})
        except WebDriverError:
            return None

    def screenshot(self, path):
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        return len(png)

    def quit(self):
        try:
            self._request("DELETE", "%s/session/%s" % (self.base, self.id))
        except (WebDriverError, OSError):
            pass


def wait_for(what, predicate, timeout=30, interval=0.2):
    """Polls predicate until it returns something true, and returns that; raises with `what` (what
    was awaited) after timeout seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except WebDriverError as e:
            last_error = e
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %ds waiting for %s%s" % (timeout, what,
                                                                        " (last error: %s)" % last_error if last_error else ""))
        time.sleep(interval)


def wait_driver(url, timeout=30):
    """Waits until the driver at url answers /status ready."""
    def ready():
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/status", timeout=2) as r:
                return json.loads(r.read().decode("utf-8")).get("value", {}).get("ready")
        except (OSError, ValueError):
            return False
    return wait_for("the WebDriver server at %s" % url, ready, timeout)
