#!/usr/bin/env python3
"""Canonical records for the retention test (test_retention.sh): round K of a steady load, the
same HOUSEHOLDS households pushed again with new message ids, each member's income for month K
(a closed period in the past that supersedes month K-1's), so every record of round K-1 is no
longer needed by the eligibility state once round K is stored."""
import json, sys

W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number(region, birth, seq):
    body = "%s%s%03d" % (region, birth, seq)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W)) % 11]


def month(k):
    y, m = 2015 + (k - 1) // 12, (k - 1) % 12 + 1
    last = [31, 29 if y % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
    return "%04d-%02d-01" % (y, m), "%04d-%02d-%02d" % (y, m, last)


def main():
    k, households = int(sys.argv[1]), int(sys.argv[2])
    start, end = month(k)
    records = []
    for h in range(households):
        members = [id_number("120101", "198%d0%d1%d" % (h % 10, 1 + h % 9, h % 10), 2 * h + i + 1) for i in range(2)]
        records.append({
            "kind": "household_assistance_roster",
            "source": {"department": "mca", "message_id": "steady-%d-%d" % (h, k)},
            "persons": [{"id_number": p, "name": "测试", "hukou_region": "120101", "hukou_type": "1"} for p in members],
            "household": {"household_id": "SL%04d" % h, "region": "120101", "hukou_type": "1",
                          "members": [{"id_number": p, "family_relationship": "02" if i == 0 else "20"}
                                      for i, p in enumerate(members)]},
            "facts": [{"type": "income", "subject": p, "valid_from": start, "valid_to": end,
                       "attributes": {"income_monthly_fen": 1000000, "income_source": "1"}} for p in members],
        })
    json.dump(records, sys.stdout, ensure_ascii=False)


main()
