#!/usr/bin/env python3
"""The dashboard's browser test (run by tests/cli/test_dashboard.sh, which starts the daemon, the
feeder and chromedriver): drives headless Chromium over WebDriver through the page an
administrator sees.  Each check waits a bounded time and says what it awaited; the script ends
with "N passed, M failed" and exits 1 on any failure.  Python 3 standard library only."""
import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webdriver import Session, WebDriverError, wait_driver, wait_for  # noqa: E402

ENTER = "\ue007"

ap = argparse.ArgumentParser()
ap.add_argument("--driver", required=True, help="the WebDriver server, e.g. http://127.0.0.1:9515")
ap.add_argument("--url", required=True, help="the dashboard, e.g. https://localhost:PORT/")
ap.add_argument("--profile", required=True, help="a fresh directory for the browser's profile")
ap.add_argument("--feeder-go", required=True, help="created once the page is live: the feeder starts")
ap.add_argument("--message-id", required=True, help="a message id that was pushed")
ap.add_argument("--id-number", required=True, help="an ID number in the pushed records")
ap.add_argument("--screenshot", required=True, help="where to save the PNG")
ap.add_argument("--gateway-days", type=int, required=True,
                help="the days the gateway's certificate was issued for: the certificates panel shows that or one less")
ap.add_argument("--timeout", type=float, default=30, help="the bound of every wait, in seconds")
ap.add_argument("--cluster-instance", help="the daemon is this instance of a cluster (a PostgreSQL store): "
                "the instances panel must list it as the evaluator; without it, alone on SQLite")
args = ap.parse_args()
T = args.timeout

passed = failed = 0


def check(name, fn):
    """Runs one step; a failure is reported and the next step still runs."""
    global passed, failed
    t0 = time.monotonic()
    try:
        fn()
        passed += 1
        print("ok   %-58s %5.1f s" % (name, time.monotonic() - t0), flush=True)
        return True
    except (AssertionError, TimeoutError, WebDriverError, OSError) as e:
        failed += 1
        print("FAIL %s: %s" % (name, e), flush=True)
        return False


def masked(idn):
    return idn[:6] + "*" * 8 + idn[-4:]


def number(text):
    m = re.search(r"-?\d+(?:\.\d+)?", (text or "").replace(",", ""))
    return float(m.group(0)) if m else None


wait_driver(args.driver, T)
capabilities = {"alwaysMatch": {
    "browserName": "chrome",
    "acceptInsecureCerts": False,  # the gateway's certificate must verify against the CA in the NSS database
    "goog:loggingPrefs": {"browser": "ALL"},
    "goog:chromeOptions": {
        "binary": "/usr/bin/chromium",
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000", "--user-data-dir=" + args.profile, "--no-first-run",
                 "--lang=zh-CN"],
    },
}}
s = Session(args.driver, capabilities, timeout=max(T, 60))
try:
    def page_live():
        s.get(args.url)
        wait_for("#connection-state to read \"live\" (the EventSource on /v1/events open)",
                 lambda: s.text("#connection-state") == "live", T)
        wait_for("the flow picture drawn from the hello event (#node-gateway, #edge-in-mca, #edge-out-cdpf)",
                 lambda: s.find("#node-gateway") and s.find("#edge-in-mca") and s.find("#edge-out-cdpf"), T)
        assert s.execute("return document.title").startswith("民生网关"), "the page's title"
    if not check("page loads over mutual TLS and goes live", page_live):
        print("0 passed, 1 failed (nothing else can be checked)")
        raise SystemExit(1)
    open(args.feeder_go, "w").close()

    def received_grows():
        wait_for("a first stats event (#stat-received-total > 0)",
                 lambda: (number(s.text("#stat-received-total")) or 0) > 0, T)
        first = number(s.text("#stat-received-total"))
        time.sleep(4)
        second = number(s.text("#stat-received-total"))
        if second <= first:  # the feeder may be between rounds: give it a bounded while more
            second = wait_for("#stat-received-total to grow past %d" % first,
                              lambda: (number(s.text("#stat-received-total")) or 0) > first and
                              number(s.text("#stat-received-total")), T)
        assert second > first, "received %s then %s" % (first, second)
    check("the received counter grows while the feeder pushes", received_grows)

    def edge_rate():
        def nonzero():
            labels = s.execute("return [...document.querySelectorAll('.edge-label.in')].map(e => e.textContent)")
            return [t for t in labels if (number(t) or 0) > 0]
        found = wait_for("a flow edge label (.edge-label.in) showing a non-zero rate", nonzero, T)
        assert re.fullmatch(r"in \d+(\.\d)?/s", found[0]), "label text %r" % found[0]
        cls = s.execute("return document.querySelector('.edge.in.ok, .edge.in.error') !== null")
        assert cls, "no inbound edge is marked flowing (.edge.in.ok or .edge.in.error)"
    check("a flow edge shows a non-zero records/s rate", edge_rate)

    def queues():
        wait_for("the queues table's cdpf row (#queues tbody tr[data-recipient=cdpf])",
                 lambda: s.find('#queues tbody tr[data-recipient="cdpf"]'), T)
    check("the queues table lists the recipients", queues)

    def instances():
        if args.cluster_instance:
            row = '#cluster tbody tr[data-instance="%s"][data-role="evaluator"]' % args.cluster_instance
            wait_for("the instances panel listing %s as the evaluator (%s)" % (args.cluster_instance, row),
                     lambda: s.find(row), T)
            assert "epoch" in (s.text('#cluster-epoch') or ""), "the evaluator lease's epoch is shown"
        else:
            wait_for("the instances panel saying the gateway runs alone on SQLite (#cluster-alone)",
                     lambda: "SQLite" in (s.text('#cluster-alone') or ""), T)
    check("the instances panel: %s" % ("the evaluator of its cluster" if args.cluster_instance
                                        else "one instance on its own store"), instances)

    def certificates():
        row = '#certificates tbody tr[data-name="gateway"]'
        wait_for("the certificates panel's gateway row (%s)" % row, lambda: s.find(row), T)
        days = s.text(row + " td.days")
        assert days in (str(args.gateway_days - 1), str(args.gateway_days)), \
            "the gateway certificate's days left %r, not %d or %d" % (days, args.gateway_days - 1, args.gateway_days)
        state = s.execute("return document.querySelector(arguments[0]).dataset.state", row)
        assert state == "ok", "the gateway certificate's state %r" % state
        assert s.find('#certificates tbody tr[data-name="ca"]'), "no row for the CA (tls.ca)"
    check("the certificates panel shows the gateway certificate's days left", certificates)

    def audit_log():
        button = wait_for("the audit panel's Verify button (#audit-verify)", lambda: s.find("#audit-verify"), T)
        button.click()
        wait_for("the audit log's verification shown (#audit-result[data-state])",
                 lambda: s.find("#audit-result[data-state]"), T)
        state = s.execute("return document.querySelector('#audit-result').dataset.state")
        assert state == "ok", "the audit log's state %r: %s" % (state, s.text("#audit-problem"))
        entries = number(s.text("#audit-entries") or "")
        assert entries and entries > 0, "entries %r" % s.text("#audit-entries")
        assert (s.text("#audit-signer") or "").startswith("sha256 "), "the signer %r" % s.text("#audit-signer")
    check("the audit panel verifies the audit log on demand", audit_log)

    def replay_dead_letter():
        ids = wait_for("a dead letter row (#deadletters tbody tr[data-id])", lambda: s.execute(
            "return [...document.querySelectorAll('#deadletters tbody tr[data-id]')].map(r => r.dataset.id)"), T)
        target = ids[0]
        row_css = '#deadletters tbody tr[data-id="%s"]' % target
        assert "HTTP 503" in (s.text(row_css) or ""), "the dead letter's last error"
        def click():
            button = s.find('button.replay[data-id="%s"]' % target)
            assert button, "no Replay button for dead letter %s" % target
            button.click()  # may find the row re-rendered under it: stale, tried again
            return True
        wait_for("a click on dead letter %s's Replay button" % target, click, T)
        wait_for("dead letter %s to leave the list after Replay" % target, lambda: s.find(row_css) is None, T, 0.1)
        status = s.text("#deadletters-status") or ""
        assert status.startswith("replayed 1"), "status %r" % status
    check("a dead letter is replayed from the page and leaves the list", replay_dead_letter)

    def transitions():
        rows = wait_for("transitions listed (#transitions tbody tr[data-id])", lambda: s.execute(
            "return [...document.querySelectorAll('#transitions tbody tr[data-id]')]"
            ".map(r => [r.dataset.service, r.querySelector('.explanation').textContent])"), T)
        assert any(expl.strip() for _, expl in rows), "no transition has an explanation"
        service = rows[0][0]
        assert s.execute("return [...document.querySelectorAll('#transition-service option')]"
                         ".some(o => o.value === arguments[0])", service), "service %s not in the filter" % service
        s.execute("const e = document.querySelector('#transition-service'); e.value = arguments[0];"
                  "e.dispatchEvent(new Event('change'));", service)
        wait_for("only %s transitions after choosing it in the service filter" % service, lambda: s.execute(
            "const r = [...document.querySelectorAll('#transitions tbody tr[data-id]')];"
            "return r.length > 0 && r.every(x => x.dataset.service === arguments[0]);", service), T)
        district = s.find("#transition-district")
        district.send_keys("99")  # no such province: nothing
        wait_for("no transitions for district 99", lambda: s.find("#transitions tbody tr[data-id]") is None and
                 s.find("#transitions tbody tr.empty"), T)
        district.clear()
        s.execute("const e = document.querySelector('#transition-service'); e.value = '';"
                  "e.dispatchEvent(new Event('change'));")
        wait_for("transitions listed again with the filters cleared", lambda: s.find("#transitions tbody tr[data-id]"), T)
    check("transitions with explanations, filtered by service and district", transitions)

    def trace():
        box = s.find("#search-input")
        box.clear()
        box.send_keys(args.message_id + ENTER)
        wait_for("the trace of %s in #search-result" % args.message_id,
                 lambda: s.text("#search-result #search-message") == args.message_id, T)
        outcome = s.text("#search-outcome") or ""
        assert outcome.startswith("stored"), "outcome %r" % outcome
        text = s.text("#search-result")
        assert "Facts written" in text and "Messages caused" in text, "the trace's sections"
    check("search: a message id shows its trace", trace)

    def person():
        box = s.find("#search-input")
        box.clear()
        box.send_keys(args.id_number + ENTER)
        wait_for("the person %s in #search-result" % masked(args.id_number),
                 lambda: s.text("#search-result #search-person") == masked(args.id_number), T)
        assert s.find("#search-input").property("value") == "", "the ID number was left in the search box"
        body = s.execute("return document.body.innerText")
        assert args.id_number not in body, "the full ID number appears in the page"
        assert masked(args.id_number) in body, "the masked ID number is not shown"
        assert "Verdicts" in body, "the person's verdicts"
        # who was given what of the person (docs/disclosure.md), fetched after the page
        wait_for("the person's disclosures in #search-result",
                 lambda: (s.text("#search-result #search-disclosures") or "").startswith("披露 Disclosures"), T)
        body = s.execute("return document.body.innerText")
        assert args.id_number not in body, "the full ID number appears in the disclosures"
    check("search: an ID number is shown masked only, with its disclosures", person)

    def no_csp_violation():
        log = s.log("browser")
        if log is None:
            return  # the driver keeps no console log: nothing to read
        bad = [e["message"] for e in log if "Content Security Policy" in e.get("message", "")
               or "Uncaught" in e.get("message", "")]
        assert not bad, "console: %s" % bad[:3]
    check("no script error or Content-Security-Policy violation in the console", no_csp_violation)
finally:
    if failed:
        for entry in s.log("browser") or []:
            print("browser console: %s %s" % (entry.get("level"), entry.get("message", "")[:300]))
    try:
        s.execute("window.scrollTo(0, 0)")
        size = s.screenshot(args.screenshot)
        print("screenshot: %s (%d bytes)" % (args.screenshot, size), flush=True)
    except (WebDriverError, OSError) as e:
        print("no screenshot: %s" % e, flush=True)
    try:
        # leave the page while the daemon runs: its event stream is closed by the browser, as when an
        # administrator closes the tab (test_dashboard.sh then checks that the daemon stops cleanly)
        s.get("about:blank")
        time.sleep(1.5)
    except WebDriverError:
        pass
    s.quit()

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
