#!/usr/bin/python3
"""docs/openapi.yaml held to the gateway, both ways (issue 17 §2; docs/openapi.md).

  check.py MSGW DOC GENERATED_DIR                      the document alone
  check.py MSGW DOC GENERATED_DIR --live CONFIG.json   and against a running daemon

The document alone: it validates against the OpenAPI 3.1 schema (tests/openapi/oas-3.1-schema.json,
the OpenAPI Initiative's, with Debian's python3-jsonschema); every reference resolves, those to the
published schemas (../schemas/generated/NAME) to a file of the build that is itself a valid JSON
Schema; every path parameter is declared; and the routes it documents are exactly those `msgw
routes` prints — no route of the daemon undocumented, none documented that the daemon lacks.

Live (CONFIG names the ports and the client certificate and request body for each listener): every
documented operation is sent to the daemon, and its status must be one the document lists for that
operation, with a body valid against the response's schema — a route the daemon lacked would answer
its bare 404 ({"status": 404}, no rule), which no documented response admits.  Run with the system
python3 (Debian's python3-yaml and python3-jsonschema); without them it exits 77 naming the package.
"""
import http.client
import json
import os
import re
import ssl
import subprocess
import sys

try:
    import yaml
    from jsonschema import Draft202012Validator, RefResolver
except ImportError as e:
    print("SKIP: %s (apt-get install python3-yaml python3-jsonschema; the Makefile's DEBIAN_PACKAGES)" % e)
    sys.exit(77)

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
HERE = os.path.dirname(os.path.abspath(__file__))
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL: " + msg)


def refs(node, out):
    """Every $ref in node."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out.append(v)
            else:
                refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)
    return out


def pointer(doc, ref):
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def check_document(doc, generated):
    meta = json.load(open(os.path.join(HERE, "oas-3.1-schema.json"), encoding="utf-8"))
    for e in Draft202012Validator(meta).iter_errors(doc):
        fail("not OpenAPI 3.1 at /%s: %s" % ("/".join(map(str, e.absolute_path)), e.message[:200]))
    for ref in sorted(set(refs(doc, []))):
        if ref.startswith("#/"):
            if pointer(doc, ref) is None:
                fail("unresolved reference " + ref)
        elif ref.startswith("../schemas/generated/"):
            path = os.path.join(generated, ref[len("../schemas/generated/"):])
            if not os.path.isfile(path):
                fail("reference %s: no such published schema" % ref)
                continue
            try:
                Draft202012Validator.check_schema(json.load(open(path, encoding="utf-8")))
            except Exception as e:  # noqa: BLE001 -- any failure is the finding
                fail("reference %s is not a valid JSON Schema: %s" % (ref, str(e)[:200]))
        else:
            fail("reference %s points outside the document and the published schemas" % ref)
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if not op:
                continue
            declared = {resolve(doc, p)["name"] for p in op.get("parameters", []) + item.get("parameters", [])
                        if resolve(doc, p)["in"] == "path"}
            for name in re.findall(r"{([^}]+)}", path):
                if name not in declared:
                    fail("%s %s: path parameter %s is not declared" % (method.upper(), path, name))


def resolve(doc, node):
    return pointer(doc, node["$ref"]) if "$ref" in node else node


def documented_routes(doc):
    out = set()
    for path, item in doc["paths"].items():
        listener = item.get("x-msgw-listener")
        if not listener:
            fail("%s names no x-msgw-listener" % path)
        for method in METHODS:
            if method in item:
                out.add((listener, method.upper(), path))
    return out


def daemon_routes(msgw):
    run = subprocess.run([msgw, "routes"], capture_output=True, text=True, check=True)
    return {tuple(line.split()) for line in run.stdout.splitlines() if line.strip()}


def example(doc, param):
    p = resolve(doc, param)
    return str(p.get("example", p.get("schema", {}).get("example", "1")))


def call(listener, method, url, live):
    """The status, content type and body of one request, as the listener's client."""
    side = live[listener]
    ctx = ssl.create_default_context(cafile=side["ca"])
    ctx.check_hostname = False
    ctx.load_cert_chain(side["cert"], side["key"])
    conn = http.client.HTTPSConnection("localhost", side["port"], context=ctx, timeout=30)
    body, headers = None, {}
    if method == "POST" and side.get("body"):
        body = open(side["body"], "rb").read()
        headers["Content-Type"] = side["media_type"]
    conn.request(method, url, body=body, headers=headers)
    r = conn.getresponse()
    ctype = r.getheader("Content-Type", "")
    data = b"" if ctype.startswith("text/event-stream") else r.read()
    conn.close()
    return r.status, ctype, data


def check_live(doc, live):
    resolver = RefResolver.from_schema(doc)
    for path, item in doc["paths"].items():
        listener = item["x-msgw-listener"]
        for method in METHODS:
            op = item.get(method)
            if not op:
                continue
            url = path
            for p in op.get("parameters", []):
                if resolve(doc, p)["in"] == "path":
                    url = url.replace("{%s}" % resolve(doc, p)["name"], example(doc, p))
            status, ctype, data = call(listener, method.upper(), url, live)
            what = "%s %s (%s)" % (method.upper(), url, listener)
            response = op["responses"].get(str(status)) or op["responses"].get("default")
            if response is None:
                fail("%s answered %d, which the document does not list (%s)" % (what, status, data[:120]))
                continue
            content = resolve(doc, response).get("content", {})
            media = ctype.split(";")[0].strip()
            if content and media not in content:
                fail("%s answered %d as %s, not one of %s" % (what, status, media, sorted(content)))
                continue
            schema = content.get(media, {}).get("schema")
            if schema and media.endswith("json"):
                try:
                    body = json.loads(data)
                except ValueError:
                    fail("%s answered %d with no JSON" % (what, status))
                    continue
                for e in Draft202012Validator(schema, resolver=resolver).iter_errors(body):
                    fail("%s answered %d with a body the document does not describe: %s" % (what, status, e.message[:160]))
                    break
            print("ok   %-6s %-34s %-8s %d %s" % (method.upper(), path, listener, status, media))


def main():
    msgw, doc_path, generated = sys.argv[1:4]
    doc = yaml.safe_load(open(doc_path, encoding="utf-8"))
    check_document(doc, generated)
    documented, answered = documented_routes(doc), daemon_routes(msgw)
    for r in sorted(answered - documented):
        fail("the daemon answers %s %s on %s, which the document does not describe" % (r[1], r[2], r[0]))
    for r in sorted(documented - answered):
        fail("the document describes %s %s on %s, which the daemon has no route for" % (r[1], r[2], r[0]))
    print("%d routes documented, %d in `msgw routes`" % (len(documented), len(answered)))
    if len(sys.argv) > 5 and sys.argv[4] == "--live":
        check_live(doc, json.load(open(sys.argv[5], encoding="utf-8")))
    print("%d failures" % failures)
    sys.exit(1 if failures else 0)


main()
