#!/usr/bin/python3
"""The published schemas against the gateway, judged by an independent validator (issue 16 §1).

Every JSON document of a format in tests/data/ and its fuzz corpus goes through Debian's
python3-jsonschema (draft 2020-12, formats checked) with the schema the gateway publishes
(schemas/generated/, as built) and through the gateway (`msgw validate --from FORMAT`).  They
must agree: a document the schema accepts is accepted whole by the gateway, and one the schema
refuses is refused.  The only disagreements allowed are the gateway refusing for a rule no JSON
Schema can express, listed in ALLOWED (docs/dictionary.md, "Rules only the gateway's validator
enforces"); each is printed.  Run with the system python3 (/usr/bin/python3), where the Debian
package installs the module; without it the test is skipped (exit 77) naming the package.

usage: independent.py MSGW GENERATED_DIR SOURCE_ROOT FORMAT...
"""
import glob
import json
import os
import re
import subprocess
import sys

try:
    from jsonschema import Draft202012Validator
except ImportError:
    print("SKIP: python3-jsonschema is not installed (apt-get install python3-jsonschema; the "
          "Makefile's DEBIAN_PACKAGES)")
    sys.exit(77)

# Rules a JSON Schema cannot express, each with why.
ALLOWED = {
    "json.duplicate_key": "a member twice in one object: JSON Schema sees the parsed object, one member",
    "json.number_range": "an integer beyond 64 bits: JSON Schema numbers have no size",
    "gb11643.check_character": "the ID number's ISO 7064 MOD 11-2 check character",
    "gb11643.birth_date": "a birth date that is a real calendar day and not in the future",
}
# The FHIR mapping's rules (health only; docs/formats/health.md).  fhir.schema.json describes FHIR R4
# JSON as far as msgw reads it, and every document here that it accepts is valid FHIR; whether a
# valid resource carries what makes it one of the gateway's records is the mapping's verdict.
FHIR_MAPPING = {
    "fhir.subject.unresolved": "a reference resolved against the Bundle's other entries (FHIR R4 3.1.4.1)",
    "fhir.subject.ambiguous": "a reference that resolves to several entries of the Bundle",
    "fhir.subject.not_patient": "a reference that resolves to an entry that is not a Patient",
    "fhir.subject.unkeyable": "a subject whose Patient carries no resident ID to key the record by",
    "fhir.patient.no_resident_id": "an identifier in the resident-ID system the deployment configures",
    "fhir.condition.no_icd10": "a Condition coded in ICD-10, the code system msgw maps",
    "fhir.observation.no_loinc": "an Observation coded in LOINC, the code system msgw maps",
    "fhir.bundle.type": "a Bundle of a type msgw maps (history and document Bundles are valid FHIR)",
}
SCHEMA = {"hrss": "hrss.schema.json", "canonical": "canonical.schema.json", "health": "fhir.schema.json"}
DATA = {"hrss": ["tests/data/hrss", "tests/fuzz/corpus/hrss"],
        "canonical": ["tests/data/canonical", "tests/fuzz/corpus/canonical"],
        "health": ["tests/data/health", "tests/fuzz/corpus/health"]}

msgw, generated, root = sys.argv[1:4]
failures = checked = 0
for fmt in sys.argv[4:]:
    schema = json.load(open(os.path.join(generated, SCHEMA[fmt]), encoding="utf-8"))
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    files = sorted(f for d in DATA[fmt] for f in glob.glob(os.path.join(root, d, "**", "*"), recursive=True)
                   if os.path.isfile(f) and not f.endswith((".md", ".txt")))
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                doc = json.load(fh)
            errors = list(validator.iter_errors(doc))
            schema_ok, why = not errors, errors[0].message[:160] if errors else ""
        except (ValueError, UnicodeDecodeError) as e:  # not JSON: the schema cannot accept it
            schema_ok, why = False, "not JSON: %s" % e
        run = subprocess.run([msgw, "validate", "--from", fmt, "--quiet", f], capture_output=True, text=True)
        gateway_ok = run.returncode == 0
        rules = set(re.findall(r"error: .*\[([a-z0-9_.\-]+)\]", run.stdout + run.stderr))
        # the JSON rules have the adapter's prefix in health (fhir.json.duplicate_key)
        rules = {r[len("fhir."):] if r.startswith("fhir.json.") else r for r in rules}
        allowed = set(ALLOWED) | (set(FHIR_MAPPING) if fmt == "health" else set())
        checked += 1
        rel = os.path.relpath(f, root)
        if schema_ok == gateway_ok:
            continue
        if schema_ok and rules and rules <= allowed:
            print("allowed  %s: the schema accepts, the gateway refuses for %s" % (rel, ", ".join(sorted(rules))))
            continue
        failures += 1
        print("DISAGREE %s: the schema %s%s, the gateway %s%s" % (
            rel, "accepts" if schema_ok else "refuses", "" if schema_ok else " (%s)" % why,
            "accepts" if gateway_ok else "refuses", " (%s)" % ", ".join(sorted(rules)) if rules else ""))
print("%d documents, %d disagreements" % (checked, failures))
sys.exit(1 if failures else 0)
