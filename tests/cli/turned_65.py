#!/usr/bin/env python3
"""A person who turned 65 three days ago, for the tests of birthdays missed while the gateway was
down (tests/cli/test_catchup.sh, tests/postgresql/test_cluster_reload.sh): writes the health
commission's canonical person registration of them (message id REG-1) to OUT and prints their ID
number (a valid GB 11643 one, registered in 120101).
usage: turned_65.py OUT [DAYS [MESSAGE_ID [TODAY]]]
DAYS ago instead of three (negative: the birthday is still to come), counted from TODAY
(YYYY-MM-DD) instead of the real date — the clock test (tests/cli/test_clock.sh) moves the
daemon's clock; the same DAYS and TODAY give the same person."""
import datetime
import json
import sys

days = int(sys.argv[2]) if len(sys.argv) > 2 else 3
message_id = sys.argv[3] if len(sys.argv) > 3 else "REG-1"
today = datetime.date.fromisoformat(sys.argv[4]) if len(sys.argv) > 4 else datetime.date.today()
d = today - datetime.timedelta(days=days)
while True:
    try:
        birth = d.replace(year=d.year - 65)
        break
    except ValueError:  # 29 February
        d -= datetime.timedelta(days=1)
body = "120101" + birth.strftime("%Y%m%d") + "017"
w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
idn = body + "10X98765432"[sum(int(c) * k for c, k in zip(body, w)) % 11]
record = {"kind": "person_registration", "source": {"department": "health", "message_id": message_id},
          "persons": [{"id_number": idn, "name": "周建华", "sex": "1", "birth_date": birth.isoformat(),
                       "hukou_region": "120101", "hukou_type": "1", "residence_region": "120101"}],
          "facts": []}
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump([record], f, ensure_ascii=False)
print(idn)
