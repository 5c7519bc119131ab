#!/usr/bin/env python3
"""Checks the service catalogues (schemas/catalogue/*.json) against their rules and their sources.

The catalogues are hand-checked transcriptions of policy documents; the eligibility engine will
trust them, so every claim they make that can be checked mechanically is checked here: the service
counts the documents state, stable and well-formed codes, required fields, references to domains
and departments, and that each service's source line really is the line of the seed file that
names it (and that the quoted cell texts really occur in the seed). Each service's decidability
class must agree with its rule and name the facts it waits for and their holders, and a rule
must test the place its decided_by names (the hukou region or the residence place).

Usage: tools/check_catalogue.py [--catalogue-dir DIR] [--seeds DIR]
Exit status 0 when everything holds, 1 with one message per problem otherwise.
"""

import argparse
import json
import re
import sys
from pathlib import Path

# What each catalogue must hold; the counts are the ones the source documents state.
EXPECTED = {
    "tianjin": {"file": "tianjin.json", "count": 94, "code": re.compile(r"^TJ-(D\d+)-(\d{2})$"),
                "cells": ("target_group", "standard", "spending", "coverage")},
    "langfang": {"file": "langfang.json", "count": 81, "code": re.compile(r"^LF-(\d{3})$"),
                 "cells": ("target_group", "standard", "spending", "lead_departments_text")},
}
DECIDED_BY = ("hukou", "residence")
BASIS = ("text", "inferred")
SERVICE_REQUIRED = ("code", "name", "domain", "target_group", "standard", "spending",
                    "departments", "decided_by", "decided_by_basis", "source")
SOURCE_REQUIRED = ("file", "chapter", "table", "row", "line")
# docs/eligibility.md, "Decidability"; the C loader (gateway/engine/catalogue.c) checks the same.
CLASSES = ("rule", "universal", "needs_facts")
# The place a rule tests, by decided_by (schemas/catalogue/RULES.md, conventions).
PLACE_FIELD = {"hukou": "person.hukou_region", "residence": "person.residence_place"}


class Problems:
    """Collects problems so that one run reports all of them, each with where it was found."""

    def __init__(self):
        self.items = []

    def add(self, where, message):
        self.items.append(f"{where}: {message}")


def is_empty(value):
    return value is None or value == "" or value == [] or value == {}


def load_json(path, problems):
    try:
        with open(path, encoding="utf-8") as fp:
            return json.load(fp)
    except (OSError, json.JSONDecodeError) as exc:
        problems.add(str(path), f"cannot load: {exc}")
        return None


def service_where(fname, index, svc):
    return f"{fname}: services[{index}] {svc.get('code', '?')} ({svc.get('name', '?')})"


class Seeds:
    """The seed documents, read lazily; absent when the seeds directory is not there."""

    def __init__(self, directory):
        self.directory = directory
        self.cache = {}

    def present(self):
        return self.directory is not None and self.directory.is_dir()

    def lines(self, source_file):
        # Catalogues name files as "seeds/NAME"; the seeds directory holds NAME.
        name = Path(source_file).name
        if name not in self.cache:
            path = self.directory / name
            try:
                self.cache[name] = path.read_text(encoding="utf-8").split("\n")
            except OSError:
                self.cache[name] = None
        return self.cache[name]

    def flat(self, source_file):
        # Cells wrapped over several lines are stored joined; compare without line breaks.
        lines = self.lines(source_file)
        return None if lines is None else "".join(lines)


def check_departments(doc, problems):
    ids = set()
    for i, dept in enumerate(doc.get("departments", [])):
        where = f"departments.json: departments[{i}]"
        for field in ("id", "name", "en"):
            if is_empty(dept.get(field)):
                problems.add(where, f"field '{field}' is required and must not be empty")
        if dept.get("id") in ids:
            problems.add(where, f"duplicate department id '{dept.get('id')}'")
        ids.add(dept.get("id"))
    if not ids:
        problems.add("departments.json", "no departments")
    return ids


def check_domains(fname, cat, problems):
    domains = {}
    for i, dom in enumerate(cat.get("domains", [])):
        where = f"{fname}: domains[{i}]"
        for field in ("id", "name"):
            if is_empty(dom.get(field)):
                problems.add(where, f"field '{field}' is required and must not be empty")
        if is_empty(dom.get("summary")) and is_empty(dom.get("summary_note")):
            problems.add(where, "needs a 'summary' or, when the source has none, a 'summary_note'")
        if dom.get("id") in domains:
            problems.add(where, f"duplicate domain id '{dom.get('id')}'")
        domains[dom.get("id")] = dom
    if not domains:
        problems.add(fname, "no domains")
    return domains


def check_catalogue_header(fname, cat, catalogue_id, problems):
    if cat.get("id") != catalogue_id:
        problems.add(fname, f"id should be '{catalogue_id}', found '{cat.get('id')}'")
    for field in ("name", "region", "source"):
        if is_empty(cat.get(field)):
            problems.add(fname, f"field '{field}' is required and must not be empty")
    src = cat.get("source") or {}
    for field in ("document", "file", "issued"):
        if is_empty(src.get(field)):
            problems.add(fname, f"source.{field} is required and must not be empty")
    if src.get("issued") and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", src["issued"]):
        problems.add(fname, f"source.issued should be YYYY-MM-DD, found '{src['issued']}'")


def check_required(where, svc, spec, catalogue_id, problems):
    for field in dict.fromkeys(SERVICE_REQUIRED + spec["cells"]):
        if is_empty(svc.get(field)):
            problems.add(where, f"field '{field}' is required and must not be empty")
    if "rule" not in svc:
        problems.add(where, "field 'rule' must be present (null until rules are written)")
    src = svc.get("source") or {}
    for field in SOURCE_REQUIRED:
        if is_empty(src.get(field)):
            problems.add(where, f"source.{field} is required and must not be empty")
    for field in ("row", "line"):
        if field in src and not (isinstance(src[field], int) and src[field] >= 1):
            problems.add(where, f"source.{field} must be a positive integer")
    if catalogue_id == "langfang" and not isinstance(svc.get("amount_local"), bool):
        problems.add(where, "field 'amount_local' must be true or false")
    if svc.get("amount_local") is True and is_empty(svc.get("amount_local_note")):
        problems.add(where, "amount_local is true but 'amount_local_note' does not say why")


def check_decided_by(where, svc, problems):
    if svc.get("decided_by") not in DECIDED_BY:
        problems.add(where, f"decided_by must be one of {DECIDED_BY}, found '{svc.get('decided_by')}'")
    basis = svc.get("decided_by_basis")
    if basis not in BASIS:
        problems.add(where, f"decided_by_basis must be one of {BASIS}, found '{basis}'")
    elif basis == "text" and is_empty(svc.get("decided_by_evidence")):
        problems.add(where, "decided_by_basis is 'text' but 'decided_by_evidence' quotes nothing")
    elif basis == "inferred" and is_empty(svc.get("decided_by_note")):
        problems.add(where, "decided_by_basis is 'inferred' but 'decided_by_note' explains nothing")


def check_decidability(where, svc, dept_ids, problems):
    """One class per service, agreeing with the rule; what a service waits for is named with its holder."""
    dec = svc.get("decidability")
    if not isinstance(dec, dict):
        problems.add(where, "field 'decidability' is required: {\"class\": rule|universal|needs_facts, ...}")
        return None
    cls = dec.get("class")
    if cls not in CLASSES:
        problems.add(where, f"decidability.class must be one of {CLASSES}, found '{cls}'")
        return None
    has_rule = svc.get("rule") is not None
    if cls == "rule" and not has_rule:
        problems.add(where, "decidability.class is 'rule' but the service has no rule")
    if cls != "rule" and has_rule:
        problems.add(where, f"the service has a rule, so decidability.class must be 'rule', not '{cls}'")
    facts = dec.get("facts")
    if facts is not None and not isinstance(facts, list):
        problems.add(where, "decidability.facts must be a list")
        facts = []
    if cls == "needs_facts" and not facts:
        problems.add(where, f"decidability.class '{cls}' names no facts: list each fact that would decide it and who holds it")
    if cls == "universal" and facts:
        problems.add(where, "decidability.class 'universal' (no individual eligibility) cannot name facts")
    if cls != "rule" and is_empty(dec.get("note")):
        problems.add(where, f"decidability.class '{cls}' needs a note saying why")
    for i, fact in enumerate(facts or []):
        if not isinstance(fact, dict) or is_empty(fact.get("fact")):
            problems.add(where, f"decidability.facts[{i}] needs a 'fact': what would decide it")
        elif is_empty(fact.get("held_by")):
            problems.add(where, f"decidability.facts[{i}] ({fact['fact']}) needs 'held_by': the department that holds it")
        elif dept_ids is not None and fact["held_by"] not in dept_ids:
            problems.add(where, f"decidability.facts[{i}] ({fact['fact']}): held_by '{fact['held_by']}' is not in departments.json")
    return cls


def check_rule_place(where, svc, region, problems):
    """A rule tests the place its decided_by names, within the catalogue's region."""
    rule = svc.get("rule")
    if not rule or svc.get("decided_by") not in PLACE_FIELD:
        return
    eligible = rule.get("eligible", "")
    want = f'{PLACE_FIELD[svc["decided_by"]]} within "{region}"'
    if want not in eligible:
        problems.add(where, f"decided_by is '{svc['decided_by']}' but the rule does not test {want}")
    for by, field in PLACE_FIELD.items():
        if by != svc["decided_by"] and f"{field} within" in eligible:
            problems.add(where, f"decided_by is '{svc['decided_by']}' but the rule tests {field}")


def check_department_refs(where, svc, dept_ids, problems):
    for field in ("departments", "departments_current"):
        value = svc.get(field)
        if value is None:
            continue
        if not isinstance(value, list):
            problems.add(where, f"{field} must be a list of department ids")
            continue
        for dep in value:
            if dep not in dept_ids:
                problems.add(where, f"{field}: unknown department id '{dep}' (not in departments.json)")
        if len(set(value)) != len(value):
            problems.add(where, f"{field}: lists a department twice")


def check_code(where, svc, spec, position, problems):
    """Tianjin codes carry domain and position in the domain list; Langfang codes the item number."""
    match = spec["code"].match(svc.get("code") or "")
    if not match:
        problems.add(where, f"code '{svc.get('code')}' does not have the form {spec['code'].pattern}")
        return
    if spec["file"] == "tianjin.json":
        if match.group(1) != svc.get("domain"):
            problems.add(where, f"code names domain {match.group(1)} but the service is in {svc.get('domain')}")
        if int(match.group(2)) != position:
            problems.add(where, f"code position {match.group(2)} is not the service's position {position} "
                                f"in its domain (document order)")
    elif int(match.group(1)) != svc.get("number") or svc.get("number") != position:
        problems.add(where, f"code {svc.get('code')}, number {svc.get('number')} and position {position} "
                            f"in the list disagree")


def seed_line_has(seeds, where, source_file, line, text, what, problems):
    lines = seeds.lines(source_file)
    if lines is None:
        problems.add(where, f"seed file '{source_file}' not found in {seeds.directory}")
        return
    if not (isinstance(line, int) and 1 <= line <= len(lines)):
        problems.add(where, f"{what} {line} is outside '{source_file}' ({len(lines)} lines)")
    elif text not in lines[line - 1]:
        problems.add(where, f"{what} {line} of '{source_file}' does not contain '{text}'")


def check_against_seed(where, svc, spec, seeds, problems):
    src = svc.get("source") or {}
    source_file = src.get("file")
    if not source_file:
        return
    seed_line_has(seeds, where, source_file, src.get("line"), svc.get("name", ""), "source.line", problems)
    if "list_line" in src:
        seed_line_has(seeds, where, source_file, src["list_line"], svc.get("name", ""),
                      "source.list_line", problems)
    flat = seeds.flat(source_file)
    if flat is None:
        return
    for field in spec["cells"]:
        for piece in (svc.get(field) or "").split("\n"):
            if piece and piece not in flat:
                problems.add(where, f"{field} is not verbatim: '{piece[:40]}...' does not occur in the seed")


def check_services(fname, cat, spec, catalogue_id, domains, dept_ids, seeds, codes, problems):
    services = cat.get("services", [])
    if len(services) != spec["count"]:
        problems.add(fname, f"expected {spec['count']} services (the count the source states), found {len(services)}")
    positions = {}
    domain_counts = {}
    classes = {c: 0 for c in CLASSES}
    for i, svc in enumerate(services):
        where = service_where(fname, i, svc)
        code = svc.get("code")
        if code in codes:
            problems.add(where, f"duplicate code '{code}' (also {codes[code]})")
        codes[code] = where
        check_required(where, svc, spec, catalogue_id, problems)
        if svc.get("domain") not in domains:
            problems.add(where, f"domain '{svc.get('domain')}' is not one of the catalogue's domains")
        key = svc.get("domain") if catalogue_id == "tianjin" else "all"
        positions[key] = positions.get(key, 0) + 1
        domain_counts[svc.get("domain")] = domain_counts.get(svc.get("domain"), 0) + 1
        check_code(where, svc, spec, positions[key], problems)
        check_decided_by(where, svc, problems)
        check_rule_place(where, svc, cat.get("region"), problems)
        cls = check_decidability(where, svc, dept_ids, problems)
        if cls:
            classes[cls] += 1
        if dept_ids is not None:
            check_department_refs(where, svc, dept_ids, problems)
        if seeds.present():
            check_against_seed(where, svc, spec, seeds, problems)
    for dom_id, dom in domains.items():
        stated = dom.get("count")
        if stated is not None and stated != domain_counts.get(dom_id, 0):
            problems.add(f"{fname}: domain {dom_id} ({dom.get('name')})",
                         f"states {stated} services but holds {domain_counts.get(dom_id, 0)}")
    return classes


def check_domain_sources(fname, domains, seeds, problems):
    for dom_id, dom in domains.items():
        src = dom.get("source") or {}
        if src.get("file") and src.get("line"):
            where = f"{fname}: domain {dom_id}"
            seed_line_has(seeds, where, src["file"], src["line"], dom.get("name", ""), "source.line", problems)
            if dom.get("summary"):
                seed_line_has(seeds, where, src["file"], src["line"], dom["summary"], "source.line", problems)


def default_seeds_dir(repo):
    return repo.parent / "shared" / "seeds"


def parse_args(repo):
    parser = argparse.ArgumentParser(description="Check the service catalogues against their rules and sources.")
    parser.add_argument("--catalogue-dir", type=Path, default=repo / "schemas" / "catalogue",
                        help="directory holding tianjin.json, langfang.json, departments.json")
    parser.add_argument("--seeds", type=Path, default=None,
                        help="directory holding the seed documents (default: ../shared/seeds from the repo)")
    return parser.parse_args()


def main():
    repo = Path(__file__).resolve().parent.parent
    args = parse_args(repo)
    problems = Problems()
    seeds = Seeds(args.seeds if args.seeds is not None else default_seeds_dir(repo))
    if not seeds.present():
        print(f"notice: seeds directory {seeds.directory} not found; skipping the checks against the sources")

    depts = load_json(args.catalogue_dir / "departments.json", problems)
    # Without departments.json the reference check would only repeat its load error per service.
    dept_ids = check_departments(depts, problems) if depts else None
    codes = {}
    summary = []
    for catalogue_id, spec in EXPECTED.items():
        cat = load_json(args.catalogue_dir / spec["file"], problems)
        if cat is None:
            continue
        check_catalogue_header(spec["file"], cat, catalogue_id, problems)
        domains = check_domains(spec["file"], cat, problems)
        classes = check_services(spec["file"], cat, spec, catalogue_id, domains, dept_ids, seeds, codes, problems)
        if seeds.present():
            check_domain_sources(spec["file"], domains, seeds, problems)
        summary.append(f"{catalogue_id}: {len(cat.get('services', []))} services in {len(domains)} domains, "
                       + ", ".join(f"{n} {c}" for c, n in classes.items()))

    for item in problems.items:
        print(f"error: {item}", file=sys.stderr)
    if problems.items:
        print(f"check_catalogue: {len(problems.items)} problem(s)", file=sys.stderr)
        return 1
    print("check_catalogue: ok (" + "; ".join(summary) + f"; {len(dept_ids or ())} departments)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
