#!/usr/bin/env python3
"""A person who turned 65 three days ago, for the tests of birthdays missed while the gateway was
down (tests/cli/test_catchup.sh, tests/postgresql/test_cluster_reload.sh): writes the health
commission's canonical person registration of them (message id REG-1) to OUT and prints their ID
number (a valid GB 11643 one, registered in 120101)."""
import datetime
import json
import sys

d = datetime.date.today() - datetime.timedelta(days=3)
while True:
    try:
        birth = d.replace(year=d.year - 65)
        break
    except ValueError:  # 29 February
        d -= datetime.timedelta(days=1)
body = "120101" + birth.strftime("%Y%m%d") + "017"
w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
idn = body + "10X98765432"[sum(int(c) * k for c, k in zip(body, w)) % 11]
record = {"kind": "person_registration", "source": {"department": "health", "message_id": "REG-1"},
          "persons": [{"id_number": idn, "name": "周建华", "sex": "1", "birth_date": birth.isoformat(),
                       "hukou_region": "120101", "hukou_type": "1", "residence_region": "120101"}],
          "facts": []}
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump([record], f, ensure_ascii=False)
print(idn)
