#!/usr/bin/env python3
"""The documents of the order tests (tests/cli/test_order.sh, tests/postgresql/test_cluster_order.sh),
written into DIR: pNN.json, twelve hrss records of one person (DIR/person), enrolled and terminated
in turn; nSNN.json, fifty records each of people insured in Hebei, the others' noise."""
import json, sys
tmp = sys.argv[1]
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
def idnum(body):
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W)) % 11]
def record(biz, person, start, end=None, place="120101"):
    r = {"bizType": "insurance_termination" if end else "insurance_enrolment", "bizId": biz, "AAC002": person,
         "AAC003": "张伟", "AAC004": "1" if int(person[16]) % 2 else "2", "AAC006": person[6:10] + "-" + person[10:12] + "-" + person[12:14],
         "AAC010": person[:6], "AAC009": "1", "AAE140": "310", "AAC031": "1" if not end else "3",
         "AAB301": place, "AAE030": start}
    if end:
        r["AAE031"] = end
    return r
def document(name, recs):
    json.dump({"msgType": "HRSS_RECORDS", "batchId": f"120101-RSJ-{name}", "sendTime": "2026-12-01T09:00:00+08:00",
               "recordCount": len(recs), "records": recs}, open(f"{tmp}/{name}.json", "w"), ensure_ascii=False)
person = idnum("12010119800101001")
open(f"{tmp}/person", "w").write(person)
for i in range(12):  # enrolled in odd months, terminated at the end of them
    month = i // 2 * 2 + 1
    rec = record(f"ORDER{i:02d}", person, f"2026-{month:02d}-01", f"2026-{month:02d}-28" if i % 2 else None)
    document(f"p{i:02d}", [rec])
# the others live and are insured in Hebei: committed and evaluated like the person's records, in
# the same groups, but nothing of Tianjin's is theirs, so no notice of theirs queues before his
for s in range(4):
    for n in range(20):
        people = [idnum(f"1301021990{s + 1:02d}{n + 1:02d}{k:03d}") for k in range(50)]
        docs = [record(f"NOISE{s}{n:02d}{k:03d}", p, "2026-06-01", place="130102") for k, p in enumerate(people)]
        document(f"n{s}{n:02d}", docs)
