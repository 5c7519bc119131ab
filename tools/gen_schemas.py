#!/usr/bin/env python3
"""Generates the department schemas from the data dictionary and the message specs.

    gen_schemas.py --schemas schemas --out DIR         # DIR/mca-roster.xsd, DIR/hrss.schema.json, ...
    gen_schemas.py --schemas schemas --doc FILE        # the data dictionary for people (docs/dictionary.md)
    gen_schemas.py --schemas schemas --check-doc FILE  # fails if FILE is not what --doc would write

Inputs: schemas/dictionary.json, schemas/codelists/*.json, schemas/messages/*.json (format in
docs/message-specs.md).  The dictionary is the single source of every type, code list, length,
range and pattern; a spec only says where each dictionary element sits in a department's document.
Every reference is checked first (unknown element, code list, fact type, spec key): a broken
reference stops the build instead of producing a schema that silently says less.

Output is deterministic (fixed order, sorted where order carries no meaning) because the generated
files are committed under schemas/generated/ and compared with the build's copies by the tests.
"""
import argparse
import glob
import json
import os
import sys
from xml.sax.saxutils import escape, quoteattr

# Output file for each expected spec id.  A spec that has not been written yet still gets a
# minimal, valid schema so that the build (and the embedding of these names) never breaks.
EXPECTED_SPECS = {
    'mca-roster': 'xml',
    'cdpf-certificate': 'xml',
    'hrss': 'json',
    'fhir': 'json',
    'cdpf-roster': 'csv',
    # eligibility notices, as each department's adapter writes them (docs/eligibility.md)
    'mca-notice': 'xml',
    'cdpf-notice': 'xml',
    'hrss-notice': 'json',
    'health-notice': 'json',
    'eligibility-notice': 'json',
}
OUTPUT_SUFFIX = {'xml': '.xsd', 'json': '.schema.json', 'csv': '.csvw.json'}
CANONICAL_OUTPUT = 'canonical.schema.json'
JSON_SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema'

ID18 = '%s[0-9]{4}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]'
ID15 = '%s[0-9]{4}[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}'
# The address code's province: a province-level code of the region list (retired counties keep
# their province), or 83, the residence permits of Taiwan residents (gateway/model/dict_check.c,
# province_known).  set_provinces fills it in from the code list.
IDNUM_PATTERN = None
CANONICAL_ID_PATTERN = None  # the canonical form: 18 characters, upper-case X


def set_provinces(codelists):
    global IDNUM_PATTERN, CANONICAL_ID_PATTERN
    provinces = sorted({c['code'][:2] for c in codelists['region']['codes']} | {'83'})
    group = '(%s)' % '|'.join(provinces)
    IDNUM_PATTERN = '(%s)|(%s)' % (ID18 % group, ID15 % group)
    CANONICAL_ID_PATTERN = (ID18 % group).replace('[0-9Xx]', '[0-9X]')
CERTNO_PATTERN = '[0-9]{17}[0-9X][1-7][1-4]'
DATE_PATTERN = '[0-9]{4}-[0-9]{2}-[0-9]{2}'

DICT_TYPES = ('idnum', 'certno', 'code', 'date', 'string', 'int', 'money', 'bool')
LITERAL_TYPES = {'string': ('xs:string', 'string'), 'integer': ('xs:long', 'integer'),
                 'boolean': ('xs:boolean', 'boolean'),
                 # structural dates that are no dictionary element (an evaluation date, the time a
                 # fact was recorded): YYYY-MM-DD, and an RFC 3339 date-time
                 'date': ('literal_date', 'string'), 'dateTime': ('xs:dateTime', 'string')}
SPEC_KEYS = {'id', 'format', 'title', 'namespace', 'root', 'dialect', 'note', 'list', 'single'}
# "list": the list document that carries several of the format's documents in one message (the
# eligibility notices: docs/eligibility.md, "Several notices in one message").  The schema then
# accepts either one document, exactly as without "list", or one such list:
#   xml   {"name": "EligibilityNotices"}: a second global element of that name, in the format's
#         namespace, with the root's attributes (the fixed version), holding 1..n root elements
#   json  {"form": "array"}: a non-empty array of root documents;
#         {"form": "array", "id": "notice_id", "item": "notice"}: a non-empty array of objects
#         {"notice_id": "<the document's id>", "notice": <document>} (documents without an id of
#         their own);
#         {"form": "fhir-bundle"}: a FHIR Bundle of type collection whose entries' resources are
#         root documents
LIST_KEYS = {'name', 'form', 'id', 'item', 'note'}
JSON_LIST_FORMS = ('array', 'fhir-bundle')
NODE_KEYS = {'name', 'min', 'max', 'children', 'element', 'attribute', 'fixed', 'choice', 'open',
             'type', 'variants', 'values', 'unit', 'note'}


class SpecError(Exception):
    pass


def fail(msg):
    sys.exit('gen_schemas: error: ' + msg)


# ---------------------------------------------------------------------------------------------
# Loading and checking the inputs


def load_json(path):
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail('%s: %s' % (path, e))


def load_inputs(schemas_dir):
    dictionary = load_json(os.path.join(schemas_dir, 'dictionary.json'))
    codelists = {}
    for path in sorted(glob.glob(os.path.join(schemas_dir, 'codelists', '*.json'))):
        cl = load_json(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        if cl.get('id') != stem:
            fail('%s: id %r does not match the file name' % (path, cl.get('id')))
        codelists[stem] = cl
    specs = {}
    for path in sorted(glob.glob(os.path.join(schemas_dir, 'messages', '*.json'))):
        spec = load_json(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        if spec.get('id') != stem:
            fail('%s: id %r does not match the file name' % (path, spec.get('id')))
        specs[stem] = spec
    set_provinces(codelists)
    check_dictionary(dictionary, codelists)
    for sid, spec in specs.items():
        try:
            check_spec(spec, dictionary)
        except SpecError as e:
            fail('schemas/messages/%s.json: %s' % (sid, e))
    return dictionary, codelists, specs


def check_dictionary(d, codelists):
    elements = d.get('elements', {})
    for eid, el in elements.items():
        where = 'dictionary element %s' % eid
        if el.get('type') not in DICT_TYPES:
            fail('%s: unknown type %r' % (where, el.get('type')))
        if el['type'] == 'code':
            if el.get('codelist') not in codelists:
                fail('%s: code list %r does not exist in schemas/codelists/'
                     % (where, el.get('codelist')))
            if not code_values(el, codelists):
                fail('%s: no code of %s has one of the levels %s'
                     % (where, el['codelist'], el.get('levels')))
        elif 'codelist' in el or 'levels' in el:
            fail('%s: only code elements have a code list and levels' % where)
        if el['type'] in ('string', 'int', 'money') and ('min' not in el or 'max' not in el):
            fail('%s: %s needs min and max' % (where, el['type']))
    for cid, cl in codelists.items():
        seen = set()
        for c in cl.get('codes', []):
            if not isinstance(c.get('code'), str) or not c['code'] or 'label' not in c:
                fail('code list %s: entry %r needs a code and a label' % (cid, c))
            if c['code'] in seen:
                fail('code list %s: duplicate code %s' % (cid, c['code']))
            seen.add(c['code'])
    for fid, ft in d.get('fact_types', {}).items():
        for attr in ft.get('attributes', {}):
            if attr not in elements:
                fail('fact type %s: attribute %r is not a dictionary element' % (fid, attr))
    for kid, rk in d.get('record_kinds', {}).items():
        for fid in rk.get('facts', []):
            if fid not in d.get('fact_types', {}):
                fail('record kind %s: fact type %r does not exist' % (kid, fid))


def is_group(node):
    return 'children' in node


def check_spec(spec, d):
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise SpecError('unknown keys %s' % sorted(unknown))
    if spec.get('format') not in OUTPUT_SUFFIX:
        raise SpecError('format must be one of %s' % sorted(OUTPUT_SUFFIX))
    if not isinstance(spec.get('root'), dict) or not is_group(spec['root']):
        raise SpecError('root must be a group (a node with children)')
    if spec['format'] == 'csv':
        for child in spec['root']['children']:
            if is_group(child) or occurs_max(child) != 1 or child.get('attribute'):
                raise SpecError('csv: the root\'s children are the columns, single leaves only')
    check_node(spec['root'], d, spec['format'], '/' + str(spec['root'].get('name', '?')))
    if 'list' in spec:
        check_list(spec, d)
    if 'single' in spec:
        check_single(spec)


def check_single(spec):
    """spec "single": a JSON document may also be one item of a list child of the root on its own,
    recognised by a member only the item has ("when")."""
    one = spec['single']
    if spec['format'] != 'json' or 'list' in spec:
        raise SpecError('single: only a json spec without a list form')
    if not isinstance(one, dict) or set(one) - {'child', 'when', 'note'} or not one.get('child') or not one.get('when'):
        raise SpecError('single: {"child": NAME, "when": MEMBER} (and a note)')
    child = next((c for c in spec['root']['children'] if c.get('name') == one['child']), None)
    if not child or not is_group(child) or occurs_max(child) == 1:
        raise SpecError('single: %s is not a repeated group of the root' % one['child'])
    if one['when'] in {c.get('name') for c in spec['root']['children']}:
        raise SpecError('single: the root has a member %s too: it would not tell them apart' % one['when'])


def check_list(spec, d):
    lst, fmt, root = spec['list'], spec['format'], spec['root']
    if not isinstance(lst, dict):
        raise SpecError('list must be an object')
    unknown = set(lst) - LIST_KEYS
    if unknown:
        raise SpecError('list: unknown keys %s' % sorted(unknown))
    if fmt not in ('xml', 'json'):
        raise SpecError('list: only xml and json formats have a list form')
    if occurs_max(root) != 1:
        raise SpecError('list: the root must be a single document (max 1)')
    if fmt == 'xml':
        if set(lst) - {'name', 'note'}:
            raise SpecError('list: an xml list has a name only')
        if not isinstance(lst.get('name'), str) or not lst['name'] or lst['name'] == root['name']:
            raise SpecError('list: an xml list needs a name other than the root\'s')
    elif fmt == 'json':
        if lst.get('form') not in JSON_LIST_FORMS:
            raise SpecError('list: a json list\'s form is one of %s' % list(JSON_LIST_FORMS))
        if 'name' in lst:
            raise SpecError('list: name is for xml lists')
        if ('id' in lst) != ('item' in lst) or (('id' in lst) and lst['form'] != 'array'):
            raise SpecError('list: id and item go together, in an array list')
        if 'id' in lst and (not all(isinstance(lst[k], str) and lst[k] for k in ('id', 'item'))
                            or lst['id'] == lst['item']):
            raise SpecError('list: id and item are two different member names')
        if root['name'] in d['elements']:
            raise SpecError('list: the root\'s name %r is a dictionary element (a $defs key)'
                            % root['name'])


def occurs_min(node):
    return node.get('min', 1)


def occurs_max(node):
    return node.get('max', 1)


def check_node(node, d, fmt, path):
    unknown = set(node) - NODE_KEYS
    if unknown:
        raise SpecError('%s: unknown keys %s' % (path, sorted(unknown)))
    if not isinstance(node.get('name'), str) or not node['name']:
        raise SpecError('%s: every node needs a name' % path)
    lo, hi = occurs_min(node), occurs_max(node)
    if not isinstance(lo, int) or lo < 0:
        raise SpecError('%s: min must be a non-negative integer' % path)
    if hi != 'unbounded' and (not isinstance(hi, int) or hi < max(lo, 1)):
        raise SpecError('%s: max must be "unbounded" or an integer >= max(min, 1)' % path)
    if is_group(node):
        check_group(node, d, fmt, path)
    else:
        check_leaf(node, d, fmt, path)


def check_group(node, d, fmt, path):
    for key in ('element', 'fixed', 'type', 'values', 'unit', 'attribute'):
        if key in node:
            raise SpecError('%s: %r is for leaves, not groups' % (path, key))
    if node.get('choice') and node.get('variants'):
        raise SpecError('%s: choice and variants exclude each other' % path)
    if node.get('variants') and not all(is_group(c) for c in node['children']):
        raise SpecError('%s: the children of a variants group must be groups' % path)
    names = set()
    for child in node['children']:
        key = (child.get('name'), bool(child.get('attribute')))
        if key in names and not node.get('variants'):
            raise SpecError('%s: %s appears twice' % (path, child.get('name')))
        names.add(key)
        check_node(child, d, fmt, path + '/' + str(child.get('name')))


def check_leaf(node, d, fmt, path):
    kinds = [k for k in ('element', 'fixed', 'type', 'values') if k in node]
    if len(kinds) != 1:
        raise SpecError('%s: a leaf has exactly one of element, fixed, type, values' % path)
    for key in ('choice', 'open', 'variants'):
        if key in node:
            raise SpecError('%s: %r is for groups, not leaves' % (path, key))
    if 'element' in node and node['element'] not in d['elements']:
        raise SpecError('%s: %r is not a dictionary element' % (path, node['element']))
    if 'type' in node and node['type'] not in LITERAL_TYPES:
        raise SpecError('%s: type must be one of %s' % (path, sorted(LITERAL_TYPES)))
    if 'values' in node and (not node['values'] or
                             not all(isinstance(v, str) for v in node['values'])):
        raise SpecError('%s: values must be a non-empty list of strings' % path)
    if 'fixed' in node and not isinstance(node['fixed'], str):
        raise SpecError('%s: fixed must be a string' % path)
    if node.get('attribute') and (fmt != 'xml' or occurs_max(node) != 1):
        raise SpecError('%s: attribute is for single xml leaves' % path)
    if 'unit' in node:
        el = d['elements'].get(node.get('element'), {})
        if node['unit'] != 'yuan' or el.get('type') != 'money' or fmt == 'json':
            raise SpecError('%s: unit "yuan" is for money elements in xml or csv' % path)


def elements_used(node, acc):
    if is_group(node):
        for c in node['children']:
            elements_used(c, acc)
    elif 'element' in node:
        acc.add(node['element'])
    return acc


def yuan_elements_used(node, acc):
    if is_group(node):
        for c in node['children']:
            yuan_elements_used(c, acc)
    elif node.get('unit') == 'yuan':
        acc.add(node['element'])
    return acc


def code_values(el, codelists):
    """The codes an element accepts: its code list, limited to the element's "levels" when it
    has them (the region table: e.g. only county-level codes for a place of registration)."""
    codes = codelists[el['codelist']]['codes']
    levels = el.get('levels')
    return [c for c in codes if levels is None or c.get('level') in levels]


# A code list longer than this is written into an XSD as one pattern matching exactly its codes
# (code_pattern) instead of one xs:enumeration per code: libxml2 checks a value against the
# enumeration facets one by one, so the region table's thousands of codes would cost thousands
# of comparisons per value; a pattern is compiled once into an automaton that reads each character
# once.  The pattern accepts exactly the same codes, so the schema still rejects an unknown one.
XSD_ENUMERATION_MAX = 200


def digit_class(chars):
    """['0', '1', '2', '5'] -> '[0-25]'; one character stays itself."""
    if len(chars) == 1:
        return regex_literal(chars[0])
    runs, out = [], ''
    for ch in sorted(chars):
        if runs and ord(ch) == ord(runs[-1][1]) + 1:
            runs[-1][1] = ch
        else:
            runs.append([ch, ch])
    for lo, hi in runs:
        out += lo if lo == hi else '%s%s%s' % (lo, '-' if ord(hi) > ord(lo) + 1 else '', hi)
    return '[%s]' % out


def code_pattern(codes):
    """A regular expression (XSD and ECMAScript syntax) matching exactly the given codes, all of
    one length: a trie of their characters in which characters with the same continuation share a
    class.  The branches at each point start with distinct characters, so the automaton is
    deterministic and matching reads each character once."""
    if len({len(c) for c in codes}) != 1 or not all(c.isalnum() for c in codes):
        fail('code_pattern: codes must be alphanumeric and of one length')
    memo = {}

    def build(suffixes):
        key = frozenset(suffixes)
        if key in memo:
            return memo[key]
        if suffixes == {''}:
            return ''
        heads = {}
        for s in suffixes:
            heads.setdefault(s[0], set()).add(s[1:])
        by_rest = {}
        for ch in sorted(heads):
            by_rest.setdefault(build(heads[ch]), []).append(ch)
        alts = sorted((digit_class(chars) + rest for rest, chars in by_rest.items()))
        memo[key] = alts[0] if len(alts) == 1 else '(%s)' % '|'.join(alts)
        return memo[key]

    return build(set(codes))


def bare_pattern(p):
    """XSD patterns are implicitly anchored and have no ^ or $."""
    if p.startswith('^'):
        p = p[1:]
    if p.endswith('$') and not p.endswith('\\$'):
        p = p[:-1]
    return p


def yuan(fen):
    sign = '-' if fen < 0 else ''
    return '%s%d.%02d' % (sign, abs(fen) // 100, abs(fen) % 100)


# ---------------------------------------------------------------------------------------------
# XSD


class Xsd:
    """Builds one XSD document as text, indented two spaces per level."""

    def __init__(self):
        self.lines = []

    def line(self, depth, text):
        self.lines.append('  ' * depth + text)

    def text(self):
        return '\n'.join(self.lines) + '\n'


def xsd_documentation(text):
    return '<xs:annotation><xs:documentation>%s</xs:documentation></xs:annotation>' % escape(text)


def xsd_simple_type(x, eid, el, codelists):
    x.line(1, '<xs:simpleType name=%s>' % quoteattr('t_' + eid))
    doc = '%s (%s)' % (el['label'], el.get('standard', ''))
    t = el['type']
    long_code_list = t == 'code' and len(code_values(el, codelists)) > XSD_ENUMERATION_MAX
    if long_code_list:
        codes = code_values(el, codelists)
        doc += ('; one of the %d codes of code list %s%s (schemas/codelists/%s.json, listed in '
                'docs/dictionary.md): the pattern is generated from the list and matches exactly '
                'those codes%s' % (
                    len(codes), el['codelist'],
                    ', levels ' + '/'.join(el['levels']) if el.get('levels') else '',
                    el['codelist'], '; the gateway accepts a statistical or retired code with a '
                    'warning' if any('warning' in c for c in codes) else ''))
    x.line(2, xsd_documentation(doc))
    if t == 'idnum':
        xsd_restriction(x, 2, 'xs:string', [('pattern', IDNUM_PATTERN)])
    elif t == 'certno':
        xsd_restriction(x, 2, 'xs:string', [('pattern', CERTNO_PATTERN)])
    elif t == 'date':
        xsd_restriction(x, 2, 'xs:date', [('pattern', DATE_PATTERN)])
    elif t == 'string':
        facets = [('minLength', el['min']), ('maxLength', el['max'])]
        if 'pattern' in el:
            facets.append(('pattern', bare_pattern(el['pattern'])))
        xsd_restriction(x, 2, 'xs:string', facets)
    elif t in ('int', 'money'):
        xsd_restriction(x, 2, 'xs:long', [('minInclusive', el['min']), ('maxInclusive', el['max'])])
    elif t == 'bool':
        xsd_restriction(x, 2, 'xs:boolean', [])
    elif long_code_list:
        codes = [c['code'] for c in code_values(el, codelists)]
        xsd_restriction(x, 2, 'xs:string', [('pattern', code_pattern(codes))])
    else:
        x.line(2, '<xs:restriction base="xs:string">')
        for c in code_values(el, codelists):
            doc = c['label'] + ('; ' + c['warning'] if 'warning' in c else '')
            x.line(3, '<xs:enumeration value=%s>%s</xs:enumeration>'
                   % (quoteattr(c['code']), xsd_documentation(doc)))
        x.line(2, '</xs:restriction>')
    x.line(1, '</xs:simpleType>')


def xsd_yuan_type(x, eid, el):
    """Money sent in yuan with up to two decimals; the adapter converts to fen."""
    x.line(1, '<xs:simpleType name=%s>' % quoteattr('t_%s_yuan' % eid))
    x.line(2, xsd_documentation('%s, in yuan (%s)' % (el['label'], el.get('standard', ''))))
    xsd_restriction(x, 2, 'xs:decimal', [('fractionDigits', 2), ('minInclusive', yuan(el['min'])),
                                         ('maxInclusive', yuan(el['max']))])
    x.line(1, '</xs:simpleType>')


def xsd_restriction(x, depth, base, facets):
    if not facets:
        x.line(depth, '<xs:restriction base="%s"/>' % base)
        return
    x.line(depth, '<xs:restriction base="%s">' % base)
    for facet, value in facets:
        x.line(depth + 1, '<xs:%s value=%s/>' % (facet, quoteattr(str(value))))
    x.line(depth, '</xs:restriction>')


def xsd_leaf_type(node):
    if 'element' in node:
        return 't_%s%s' % (node['element'], '_yuan' if node.get('unit') == 'yuan' else '')
    if 'type' in node:
        return LITERAL_TYPES[node['type']][0]
    return 'xs:string'


def xsd_occurs(node):
    lo, hi = occurs_min(node), occurs_max(node)
    out = ''
    if lo != 1:
        out += ' minOccurs="%d"' % lo
    if hi != 1:
        out += ' maxOccurs="%s"' % hi
    return out


def xsd_values_type(x, depth, values):
    x.line(depth, '<xs:simpleType>')
    x.line(depth + 1, '<xs:restriction base="xs:string">')
    for v in values:
        x.line(depth + 2, '<xs:enumeration value=%s/>' % quoteattr(v))
    x.line(depth + 1, '</xs:restriction>')
    x.line(depth, '</xs:simpleType>')


def xsd_attribute(x, depth, node):
    use = ' use="required"' if occurs_min(node) >= 1 else ''
    name = quoteattr(node['name'])
    if 'fixed' in node:
        x.line(depth, '<xs:attribute name=%s type="xs:string" fixed=%s%s/>'
               % (name, quoteattr(node['fixed']), use))
    elif 'values' in node:
        x.line(depth, '<xs:attribute name=%s%s>' % (name, use))
        xsd_values_type(x, depth + 1, node['values'])
        x.line(depth, '</xs:attribute>')
    else:
        x.line(depth, '<xs:attribute name=%s type="%s"%s/>' % (name, xsd_leaf_type(node), use))


def xsd_element(x, depth, node, top=False):
    occurs = '' if top else xsd_occurs(node)
    name = quoteattr(node['name'])
    if is_group(node):
        x.line(depth, '<xs:element name=%s%s>' % (name, occurs))
        xsd_complex_type(x, depth + 1, node)
        x.line(depth, '</xs:element>')
    elif 'fixed' in node:
        x.line(depth, '<xs:element name=%s type="xs:string" fixed=%s%s/>'
               % (name, quoteattr(node['fixed']), occurs))
    elif 'values' in node:
        x.line(depth, '<xs:element name=%s%s>' % (name, occurs))
        xsd_values_type(x, depth + 1, node['values'])
        x.line(depth, '</xs:element>')
    else:
        x.line(depth, '<xs:element name=%s type="%s"%s/>' % (name, xsd_leaf_type(node), occurs))


def xsd_content_model(x, depth, node, elems):
    choice = node.get('choice') or node.get('variants')
    x.line(depth, '<xs:sequence>' if not choice or node.get('open') else '<xs:choice>')
    inner = depth + 1
    if choice and node.get('open'):
        x.line(inner, '<xs:choice>')  # an open choice: the choice, then the wildcard
        inner += 1
    for c in elems:
        xsd_element(x, inner, c)
    if choice and node.get('open'):
        x.line(inner - 1, '</xs:choice>')
    if node.get('open'):
        # ##other keeps the wildcard from competing with the declared elements (XSD 1.0's
        # unique particle attribution): foreign-namespace content is skipped.
        x.line(depth + 1, '<xs:any namespace="##other" processContents="skip" minOccurs="0" '
                          'maxOccurs="unbounded"/>')
    x.line(depth, '</xs:sequence>' if not choice or node.get('open') else '</xs:choice>')


def xsd_complex_type(x, depth, node):
    elems = [c for c in node['children'] if not c.get('attribute')]
    attrs = [c for c in node['children'] if c.get('attribute')]
    x.line(depth, '<xs:complexType>')
    if elems or node.get('open'):
        xsd_content_model(x, depth + 1, node, elems)
    for a in sorted(attrs, key=lambda n: n['name']):
        xsd_attribute(x, depth + 1, a)
    if node.get('open'):
        x.line(depth + 1, '<xs:anyAttribute processContents="skip"/>')
    x.line(depth, '</xs:complexType>')


def xsd_list_element(x, depth, spec):
    """The list form: a global element holding 1..n of the (global, so referable) root element,
    with the root's attributes (the same fixed version); in the schema's target namespace, which is
    also the default namespace the reference is resolved in."""
    root = spec['root']
    x.line(depth, '<xs:element name=%s>' % quoteattr(spec['list']['name']))
    x.line(depth + 1, xsd_documentation('Several %s documents in one message (1..n, each exactly '
                                        'as it comes alone)' % root['name']))
    x.line(depth + 1, '<xs:complexType>')
    x.line(depth + 2, '<xs:sequence>')
    x.line(depth + 3, '<xs:element ref=%s maxOccurs="unbounded"/>' % quoteattr(root['name']))
    x.line(depth + 2, '</xs:sequence>')
    for a in sorted((c for c in root['children'] if c.get('attribute')), key=lambda n: n['name']):
        xsd_attribute(x, depth + 2, a)
    x.line(depth + 1, '</xs:complexType>')
    x.line(depth, '</xs:element>')


def literal_types_used(node, acc):
    if is_group(node):
        for c in node['children']:
            literal_types_used(c, acc)
    elif 'type' in node:
        acc.add(node['type'])
    return acc


def xsd_literal_date_type(x):
    """A structural date (type "date"): xs:date restricted to YYYY-MM-DD, like dictionary dates."""
    x.line(1, '<xs:simpleType name="literal_date">')
    x.line(2, xsd_documentation('date YYYY-MM-DD (GB/T 7408)'))
    xsd_restriction(x, 2, 'xs:date', [('pattern', DATE_PATTERN)])
    x.line(1, '</xs:simpleType>')


def gen_xsd(spec, d, codelists, source):
    x = Xsd()
    x.line(0, '<?xml version="1.0" encoding="UTF-8"?>')
    x.line(0, '<!-- Generated by tools/gen_schemas.py from %s and schemas/dictionary.json: '
              'do not edit. -->' % source)
    ns = spec.get('namespace')
    if ns:
        x.line(0, '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace=%s '
                  'xmlns=%s elementFormDefault="qualified">' % (quoteattr(ns), quoteattr(ns)))
    else:
        x.line(0, '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">')
    x.line(1, xsd_documentation(spec.get('title', spec['id'])))
    root = spec.get('root')
    if root:
        xsd_element(x, 1, root, top=True)
        if 'list' in spec:
            xsd_list_element(x, 1, spec)
        for eid in sorted(elements_used(root, set())):
            xsd_simple_type(x, eid, d['elements'][eid], codelists)
        for eid in sorted(yuan_elements_used(root, set())):
            xsd_yuan_type(x, eid, d['elements'][eid])
        if 'date' in literal_types_used(root, set()):
            xsd_literal_date_type(x)
    x.line(0, '</xs:schema>')
    return x.text()


# ---------------------------------------------------------------------------------------------
# JSON Schema (only the keywords the gateway's C validator supports: see docs/message-specs.md)


def anchored(p):
    return '^(' + bare_pattern(p) + ')$'


def json_element_schema(el, codelists):
    t = el['type']
    if t == 'idnum':
        return {'type': 'string', 'pattern': anchored(IDNUM_PATTERN)}
    if t == 'certno':
        return {'type': 'string', 'pattern': anchored(CERTNO_PATTERN)}
    if t == 'date':
        return {'type': 'string', 'format': 'date', 'pattern': anchored(DATE_PATTERN)}
    if t == 'string':
        s = {'type': 'string', 'minLength': el['min'], 'maxLength': el['max']}
        if 'pattern' in el:
            s['pattern'] = anchored(el['pattern'])
        return s
    if t in ('int', 'money'):
        return {'type': 'integer', 'minimum': el['min'], 'maximum': el['max']}
    if t == 'bool':
        return {'type': 'boolean'}
    return {'type': 'string', 'enum': [c['code'] for c in code_values(el, codelists)]}


def json_leaf(node):
    if 'element' in node:
        return {'$ref': '#/$defs/' + node['element']}
    if 'fixed' in node:
        return {'const': node['fixed']}
    if 'values' in node:
        return {'type': 'string', 'enum': list(node['values'])}
    if node['type'] == 'date':
        return {'type': 'string', 'format': 'date', 'pattern': anchored(DATE_PATTERN)}
    if node['type'] == 'dateTime':
        return {'type': 'string', 'format': 'date-time'}
    return {'type': LITERAL_TYPES[node['type']][1]}


def json_node(node):
    """The schema of one occurrence of node."""
    if not is_group(node):
        return json_leaf(node)
    if node.get('variants'):
        return {'oneOf': [json_repeated(c) for c in node['children']]}
    s = {'type': 'object', 'properties': {c['name']: json_repeated(c) for c in node['children']}}
    if node.get('choice'):
        s['oneOf'] = [{'required': [c['name']]} for c in node['children']]
    else:
        required = sorted(c['name'] for c in node['children'] if occurs_min(c) >= 1)
        if required:
            s['required'] = required
    if not node.get('open'):
        s['additionalProperties'] = False
    return s


def json_repeated(node):
    """A node with max > 1 is an array of its occurrences."""
    one = json_node(node)
    if occurs_max(node) == 1:
        return one
    s = {'type': 'array', 'items': one}
    if occurs_min(node) > 0:
        s['minItems'] = occurs_min(node)
    if occurs_max(node) != 'unbounded':
        s['maxItems'] = occurs_max(node)
    return s


def json_defs(element_ids, d, codelists):
    return {eid: json_element_schema(d['elements'][eid], codelists) for eid in sorted(element_ids)}


def json_list(spec):
    """The list form of a JSON spec (spec "list"): the schema of one list document, its documents
    referenced as #/$defs/<root name>."""
    lst, one = spec['list'], {'$ref': '#/$defs/' + spec['root']['name']}
    if lst['form'] == 'fhir-bundle':
        entry = {'type': 'object', 'properties': {'resource': one}, 'required': ['resource'],
                 'additionalProperties': False}
        return {'type': 'object',
                'properties': {'resourceType': {'const': 'Bundle'}, 'type': {'const': 'collection'},
                               'entry': {'type': 'array', 'minItems': 1, 'items': entry}},
                'required': ['entry', 'resourceType', 'type'], 'additionalProperties': False}
    item = one
    if 'id' in lst:
        item = {'type': 'object',
                'properties': {lst['id']: {'type': 'string', 'minLength': 1}, lst['item']: one},
                'required': sorted([lst['id'], lst['item']]), 'additionalProperties': False}
    return {'type': 'array', 'minItems': 1, 'items': item}


def gen_json_schema(spec, d, codelists):
    s = {'$schema': JSON_SCHEMA_DIALECT, '$id': 'urn:msgw:schema:' + spec['id']}
    if 'root' in spec and 'list' in spec:
        # one document (as without a list: #/$defs/<root name>) or one list of them
        s['$defs'] = json_defs(elements_used(spec['root'], set()), d, codelists)
        s['$defs'][spec['root']['name']] = json_repeated(spec['root'])
        s['oneOf'] = [{'$ref': '#/$defs/' + spec['root']['name']}, json_list(spec)]
    elif 'root' in spec and 'single' in spec:
        # the document, or (spec "single") one item of its list child on its own, told apart by a
        # member only the item has: if/then/else, so each form reports its own errors
        single = spec['single']
        child = next(c for c in spec['root']['children'] if c['name'] == single['child'])
        s['$defs'] = json_defs(elements_used(spec['root'], set()), d, codelists)
        s['$defs'][single['child'] + '_item'] = json_node(child)
        s['if'] = {'type': 'object', 'required': [single['when']]}
        s['then'] = {'$ref': '#/$defs/%s_item' % single['child']}
        s['else'] = json_repeated(spec['root'])
    elif 'root' in spec:
        s.update(json_repeated(spec['root']))
        s['$defs'] = json_defs(elements_used(spec['root'], set()), d, codelists)
    else:
        s['not'] = {}  # no spec yet: accepts nothing rather than everything
    return s


# ---------------------------------------------------------------------------------------------
# Canonical JSON (docs/canonical.md), from the dictionary's fact types and record kinds

CANONICAL_PERSON = ['id_number', 'name', 'sex', 'birth_date', 'ethnic_group', 'marital_status',
                    'hukou_region', 'hukou_type', 'residence_region']


def ref(eid):
    return {'$ref': '#/$defs/' + eid}


def canonical_fact(fid, ft):
    attrs = ft.get('attributes', {})
    return {
        'type': 'object',
        'properties': {
            'type': {'const': fid},
            'subject': {'anyOf': [{'const': ''}, ref('canonical_id')]},
            'valid_from': ref('canonical_date'),
            'valid_to': ref('canonical_date'),
            'attributes': {
                'type': 'object',
                'properties': {a: ref(a) for a in attrs},
                'required': sorted(a for a, req in attrs.items() if req),
                'additionalProperties': False,
            },
        },
        'required': ['attributes', 'subject', 'type'],
        'additionalProperties': False,
    }


def canonical_kind_rule(kid, rk):
    then = {'properties': {'facts': {'items': {'properties': {
        'type': {'enum': sorted(rk.get('facts', []))}}}}}}
    if rk.get('household'):
        then['required'] = ['household']
    return {'if': {'properties': {'kind': {'const': kid}}, 'required': ['kind']}, 'then': then}


def canonical_defs(d, codelists):
    fact_types = d.get('fact_types', {})
    used = set(CANONICAL_PERSON) | {'household_id', 'family_relationship'}
    for ft in fact_types.values():
        used |= set(ft.get('attributes', {}))
    defs = json_defs(used, d, codelists)
    defs['canonical_id'] = {'type': 'string', 'pattern': '^' + CANONICAL_ID_PATTERN + '$'}
    defs['canonical_date'] = {'type': 'string', 'format': 'date', 'pattern': anchored(DATE_PATTERN)}
    defs['region'] = json_element_schema(d['elements']['hukou_region'], codelists)
    defs['person'] = {
        'type': 'object',
        'properties': dict({e: ref(e) for e in CANONICAL_PERSON}, id_number=ref('canonical_id')),
        'required': ['id_number'],
        'additionalProperties': False,
    }
    member = {'type': 'object',
              'properties': {'id_number': ref('canonical_id'),
                             'family_relationship': ref('family_relationship')},
              'required': ['family_relationship', 'id_number'],
              'additionalProperties': False}
    defs['household'] = {
        'type': 'object',
        'properties': {'household_id': ref('household_id'), 'region': ref('region'),
                       'hukou_type': ref('hukou_type'),
                       'members': {'type': 'array', 'minItems': 1, 'items': member}},
        'required': ['household_id', 'members'],
        'additionalProperties': False,
    }
    defs['fact'] = {'oneOf': [ref('fact_' + fid) for fid in sorted(fact_types)]}
    for fid, ft in fact_types.items():
        defs['fact_' + fid] = canonical_fact(fid, ft)
    return defs


def gen_canonical(d, codelists):
    """A canonical document: one record, or a non-empty array of records (as the canonical adapter
    takes them and `msgw normalize` writes them)."""
    defs = canonical_defs(d, codelists)
    defs['record'] = canonical_record(d)
    return {
        '$schema': JSON_SCHEMA_DIALECT,
        '$id': 'urn:msgw:schema:canonical',
        'if': {'type': 'array'},
        'then': {'type': 'array', 'minItems': 1, 'items': ref('record')},
        'else': ref('record'),
        '$defs': defs,
    }


def canonical_record(d):
    kinds = d.get('record_kinds', {})
    return {
        'type': 'object',
        'properties': {
            'kind': {'enum': sorted(kinds)},
            'message_id': {'type': 'string', 'minLength': 1},
            'source': {
                'type': 'object',
                'properties': {'department': {'type': 'string', 'minLength': 1},
                               'message_id': {'type': 'string'}},
                'required': ['department'],
                'additionalProperties': False,
            },
            'recorded_at': {'type': 'string', 'format': 'date-time'},
            'persons': {'type': 'array', 'items': ref('person')},
            'household': ref('household'),
            'facts': {'type': 'array', 'items': ref('fact')},
        },
        'required': ['facts', 'kind', 'persons'],
        'additionalProperties': False,
        'allOf': [canonical_kind_rule(k, kinds[k]) for k in sorted(kinds)],
    }


# ---------------------------------------------------------------------------------------------
# CSV on the Web metadata (W3C CSVW) for CSV formats


def regex_literal(s):
    return ''.join('\\' + ch if ch in '.^$|?*+()[]{}\\' else ch for ch in s)


def csvw_datatype(node, d, codelists):
    if 'fixed' in node or 'values' in node:
        values = [node['fixed']] if 'fixed' in node else node['values']
        return {'base': 'string', 'format': '|'.join(regex_literal(v) for v in values)}
    if 'type' in node:
        return {'string': 'string', 'integer': 'long', 'boolean': 'boolean',
                'date': {'base': 'date', 'format': 'yyyy-MM-dd'}, 'dateTime': 'dateTime'}[node['type']]
    el = d['elements'][node['element']]
    t = el['type']
    if t == 'idnum':
        return {'base': 'string', 'format': IDNUM_PATTERN}
    if t == 'certno':
        return {'base': 'string', 'format': CERTNO_PATTERN}
    if t == 'date':
        return {'base': 'date', 'format': 'yyyy-MM-dd'}
    if t == 'string':
        dt = {'base': 'string', 'minLength': el['min'], 'maxLength': el['max']}
        if 'pattern' in el:
            dt['format'] = bare_pattern(el['pattern'])
        return dt
    if t in ('int', 'money') and node.get('unit') == 'yuan':
        return {'base': 'decimal', 'minimum': yuan(el['min']), 'maximum': yuan(el['max']),
                'format': {'pattern': '0.00'}}
    if t in ('int', 'money'):
        return {'base': 'long', 'minimum': el['min'], 'maximum': el['max']}
    if t == 'bool':
        return {'base': 'boolean', 'format': 'true|false'}
    codes = [c['code'] for c in code_values(el, codelists)]
    if len(codes) > XSD_ENUMERATION_MAX:
        return {'base': 'string', 'format': code_pattern(codes)}
    return {'base': 'string', 'format': '|'.join(regex_literal(c) for c in codes)}


def csvw_description(node, d, codelists):
    el = d['elements'][node['element']]
    desc = '%s (%s)' % (el['label'], el.get('standard', ''))
    if el['type'] == 'code':
        cl = codelists[el['codelist']]
        desc += '; code list %s (%s)' % (cl['id'], cl.get('standard', ''))
        codes = code_values(el, codelists)
        if len(codes) <= 20:
            desc += ': ' + ', '.join('%s=%s' % (c['code'], c['label']) for c in codes)
    if node.get('unit') == 'yuan':
        desc += '; in yuan with two decimals'
    return desc


def csvw_column(node, d, codelists, taken):
    # CSVW column names must be unique; a second column of the same element gets a suffix.
    name = node.get('element', node['name'])
    base, n = name, 2
    while name in taken:
        name, n = '%s_%d' % (base, n), n + 1
    taken.add(name)
    col = {'titles': node['name'], 'name': name,
           'datatype': csvw_datatype(node, d, codelists), 'required': occurs_min(node) >= 1}
    if 'element' in node:
        col['dc:description'] = csvw_description(node, d, codelists)
    return col


def gen_csvw(spec, d, codelists):
    dialect = {'header': True, 'delimiter': ',', 'encoding': 'utf-8'}
    dialect.update(spec.get('dialect', {}))
    taken = set()
    columns = [csvw_column(c, d, codelists, taken)
               for c in spec.get('root', {}).get('children', [])]
    return {'@context': 'http://www.w3.org/ns/csvw', 'url': spec['id'] + '.csv',
            'dc:title': spec.get('title', spec['id']), 'dialect': dialect,
            'tableSchema': {'columns': columns}}


# ---------------------------------------------------------------------------------------------
# The data dictionary for people (docs/dictionary.md), generated so that it cannot drift

TYPE_TEXT = {
    'idnum': 'ID number', 'certno': 'certificate no.', 'code': 'code', 'date': 'date',
    'string': 'string', 'int': 'integer', 'money': 'money (fen)', 'bool': 'boolean',
}


def md(text):
    return str(text).replace('|', '\\|').replace('\n', ' ')


def anchor(codelist_id):
    return 'code-list-' + codelist_id.replace('_', '-')


def element_constraints(el, codelists):
    t = el['type']
    if t == 'idnum':
        return '18 characters (GB 11643 check character) or legacy 15 digits'
    if t == 'certno':
        return '20 characters: holder ID number + category digit + grade digit'
    if t == 'date':
        return 'YYYY-MM-DD, a real calendar day'
    if t == 'string':
        out = '%d..%d characters' % (el['min'], el['max'])
        return out + (', pattern `%s`' % el['pattern'] if 'pattern' in el else '')
    if t in ('int', 'money'):
        return '%d..%d%s' % (el['min'], el['max'], ' fen' if t == 'money' else '')
    if t == 'code':
        levels = ', levels %s' % '/'.join(el['levels']) if el.get('levels') else ''
        return 'code list [%s](#%s) (%d codes%s)' % (
            el['codelist'], anchor(el['codelist']), len(code_values(el, codelists)), levels)
    return 'true / false'


def spec_fields(node, path, acc):
    here = path + '/' + ('@' if node.get('attribute') else '') + node['name']
    if is_group(node):
        for c in node['children']:
            spec_fields(c, here, acc)
    else:
        acc.append((here, node))
    return acc


def occurs_text(node):
    lo, hi = occurs_min(node), occurs_max(node)
    return '%d..%s' % (lo, '*' if hi == 'unbounded' else hi)


def doc_elements(d, codelists, specs):
    used_by = {}
    for sid in sorted(specs):
        for _, leaf in spec_fields(specs[sid]['root'], '', []):
            if 'element' in leaf:
                used_by.setdefault(leaf['element'], set()).add('%s `%s`' % (sid, leaf['name']))
    out = ['## Elements', '',
           '| id | 名称 | type | constraints | standard | sent as |', '|---|---|---|---|---|---|']
    for eid in sorted(d['elements']):
        el = d['elements'][eid]
        out.append('| `%s` | %s | %s | %s | %s | %s |' % (
            eid, md(el['label']), TYPE_TEXT[el['type']], md(element_constraints(el, codelists)),
            md(el.get('standard', '')), ', '.join(sorted(used_by.get(eid, []))) or '—'))
    return out


def doc_facts_and_kinds(d):
    out = ['## Fact types', '',
           'A fact is a dated statement about a person (or a household) with these attributes; '
           '**bold** attributes are required.', '',
           '| id | 名称 | attributes |', '|---|---|---|']
    for fid in sorted(d.get('fact_types', {})):
        ft = d['fact_types'][fid]
        attrs = ', '.join(('**`%s`**' if req else '`%s`') % a
                          for a, req in ft.get('attributes', {}).items())
        out.append('| `%s` | %s | %s |' % (fid, md(ft['label']), attrs))
    out += ['', '## Record kinds', '',
            'A record is one unit a department sends; its kind says which fact types it may carry.',
            '', '| id | 名称 | department | fact types | household |', '|---|---|---|---|---|']
    for kid in sorted(d.get('record_kinds', {})):
        rk = d['record_kinds'][kid]
        out.append('| `%s` | %s | %s | %s | %s |' % (
            kid, md(rk['label']), rk.get('department', ''),
            ', '.join('`%s`' % f for f in rk.get('facts', [])),
            'required' if rk.get('household') else '—'))
    return out


def doc_codelist(cid, cl):
    out = ['### Code list `%s`' % cid, '', 'Standard: %s.' % md(cl.get('standard', '')).rstrip('.')]
    for key in ('note', 'description'):
        if cl.get(key):
            out += ['', md(cl[key])]
    # Mapping tables (e.g. icd10_category) carry more than code and label: show what is there.
    extra = [k for k in ('to', 'category') if any(k in c for c in cl['codes'])]
    out += ['', '| code | %s名称 | English |' % ''.join('%s | ' % k for k in extra),
            '|---|%s---|---|' % ('---|' * len(extra))]
    for c in cl['codes']:
        cells = ''.join('%s | ' % md(c.get(k, '')) for k in extra)
        out.append('| `%s` | %s%s | %s |' % (c['code'], cells, md(c['label']), md(c.get('en', ''))))
    return out


REGION_LEVELS = ('province', 'prefecture', 'county', 'statistical', 'retired')


def doc_region_counts(cl):
    out = ['| province | %s | total |' % ' | '.join(REGION_LEVELS),
           '|---|%s---|' % ('---|' * len(REGION_LEVELS))]
    counts = {}
    for c in cl['codes']:
        level_counts = counts.setdefault(c['code'][:2], {})
        level_counts[c.get('level', '?')] = level_counts.get(c.get('level', '?'), 0) + 1
    for prov in sorted(counts):
        n = counts[prov]
        out.append('| %s %s | %s | %d |' % (
            prov, label_of(cl, prov + '0000'), ' | '.join(str(n.get(lv, 0)) for lv in REGION_LEVELS),
            sum(n.values())))
    out.append('| all | %s | %d |' % (
        ' | '.join(str(sum(n.get(lv, 0) for n in counts.values())) for lv in REGION_LEVELS),
        len(cl['codes'])))
    return out


def label_of(cl, code):
    return next((c['label'] for c in cl['codes'] if c['code'] == code), '')


def short_listing(c):
    """When a retired code was last listed, briefly: "2012-10" (a GB/T 2260 revision) or
    "stats 2017" (the statistics bureau's table of that year)."""
    listed = c.get('last_listed', '')
    if listed.startswith('GB/T 2260 revision '):
        return listed[len('GB/T 2260 revision '):]
    digits = [w for w in listed.split() if w.isdigit()]
    return 'stats ' + digits[0] if digits else listed


def doc_region(cl):
    src = cl.get('source', {})
    retired_sources = '; '.join('%s (%s)' % (md(r.get('package', '?')), md(r.get('data', '?')))
                                for r in src.get('retired', []))
    out = ['### Code list `region`', '',
           'Standard: %s. Generated by `tools/gen_regions.py` from %s (%s, data as of %s; '
           'licence: %s); 710000, 810000 and 820000 from %s; retired codes from %s. See '
           '`schemas/codelists/REGION-SOURCE.md`.' % (
               md(cl.get('standard', '')), md(src.get('package', '?')), md(src.get('data', '?')),
               src.get('data_date', '?'), md(src.get('licence', '?')),
               md(src.get('provinces_710000_810000_820000', '?')), retired_sources),
           '', 'Levels: `province` (PP0000), `prefecture` (PPCC00), `county` (a GB/T 2260 '
           'county-level division; also the three prefecture-level cities without one, 441900 '
           '东莞市, 442000 中山市 and 460400 儋州市), `statistical` (a statistics-bureau code for a '
           'development zone, county part 71-80: **not** a GB/T 2260 division; accepted with a '
           'warning) and `retired` (a code a GB/T 2260 revision since 2002-12 or a statistics-'
           'bureau table since 2017 listed and the current table does not: accepted with a warning '
           'naming its last label and listing, as ID cards and old records keep such codes). '
           'Elements with `levels` accept only codes of those levels.', '',
           'The generated XSDs and the CSVW metadata write this list as one pattern that matches '
           'exactly its codes (a code list of more than %d codes; an XSD enumeration of thousands '
           'of codes is checked one by one by libxml2), the JSON Schemas as an `enum`.'
           % XSD_ENUMERATION_MAX, '']
    out += doc_region_counts(cl)
    out += ['', 'County-level codes by prefecture (statistical codes in *italics*; 710000 台湾省, '
                '810000 香港特别行政区 and 820000 澳门特别行政区 have no divisions in GB/T 2260):',
            '']
    by_parent = {}
    for c in cl['codes']:
        by_parent.setdefault(c.get('parent'), []).append(c)
    current = ('county', 'statistical')
    for prov in (c for c in cl['codes'] if c.get('level') == 'province'):
        direct = [c for c in by_parent.get(prov['code'], []) if c.get('level') in current]
        if direct:  # prefecture-level cities without counties sit under their province
            out.append('- **%s %s**: %s' % (prov['code'], prov['label'], ', '.join(
                '%s %s' % (c['code'], c['label']) for c in direct)))
        for pref in (c for c in by_parent.get(prov['code'], []) if c.get('level') == 'prefecture'):
            grouping = prov['label'] if pref['label'] in ('市辖区', '县') else ''
            items = ['*%s %s*' % (c['code'], c['label']) if c.get('level') == 'statistical'
                     else '%s %s' % (c['code'], c['label'])
                     for c in by_parent.get(pref['code'], []) if c.get('level') in current]
            out.append('- **%s %s%s**: %s' % (pref['code'], grouping, pref['label'],
                                              ', '.join(items)))
    out += ['', 'Retired codes by province, with their last label and when they were last listed '
                '(a GB/T 2260 revision, or *stats YEAR* for the statistics bureau\'s table of that '
                'year; codes that were never GB/T 2260 divisions in *italics*):', '']
    retired = {}
    for c in cl['codes']:
        if c.get('level') == 'retired':
            retired.setdefault(c['code'][:2], []).append(c)
    for prov in sorted(retired):
        items = []
        for c in retired[prov]:
            text = '%s %s (%s)' % (c['code'], c['label'], short_listing(c))
            items.append('*%s*' % text if 'not a GB/T 2260' in c.get('warning', '') else text)
        out.append('- **%s %s**: %s' % (prov, label_of(cl, prov + '0000'), ', '.join(items)))
    return out


def doc_spec_row(path, leaf):
    if 'element' in leaf:
        what = '`%s`%s' % (leaf['element'], ' (in yuan)' if leaf.get('unit') else '')
    elif 'fixed' in leaf:
        what = 'fixed `%s`' % leaf['fixed']
    elif 'values' in leaf:
        what = 'one of ' + ', '.join('`%s`' % v for v in leaf['values'])
    else:
        what = leaf['type']
    return '| `%s` | %s | %s |' % (md(path), occurs_text(leaf), what)


def doc_specs(specs):
    out = ['## Department formats', '',
           'Each format is described in `schemas/messages/<id>.json` (see '
           '[message-specs.md](message-specs.md)); its schema is generated from it.', '']
    for sid in sorted(specs):
        spec = specs[sid]
        out += ['### `%s` (%s): %s' % (sid, spec['format'], md(spec.get('title', ''))), '',
                'Schema: `schemas/generated/%s%s`.' % (sid, OUTPUT_SUFFIX[spec['format']]), '',
                '| field | occurs | element / value |', '|---|---|---|']
        out += [doc_spec_row(path, leaf) for path, leaf in spec_fields(spec['root'], '', [])]
        out.append('')
    return out


DOC_INTRO = '''# The msgw data dictionary

<!-- Generated by `python3 tools/gen_schemas.py --schemas schemas --doc docs/dictionary.md`
     from schemas/dictionary.json, schemas/codelists/ and schemas/messages/: do not edit. -->

This is the list of every data element the gateway exchanges, what each may contain and which
standard it comes from. It is written for an engineer connecting a department system: find the
element behind each of your fields in [Department formats](#department-formats), then its rules
in [Elements](#elements) and its codes in [Code lists](#code-lists).

The dictionary is data: `schemas/dictionary.json` (elements, fact types, record kinds, version
%(version)s) and `schemas/codelists/*.json`. The same files generate the XSD and JSON Schema each
department can validate against before sending (`schemas/generated/`), are embedded in the
gateway, and drive its validators, so a change there changes all of them together.

Values: text is UTF-8, lengths count characters (not bytes); dates are `YYYY-MM-DD`; money is an
integer number of fen (1 yuan = 100 fen) unless a format says it is sent in yuan; codes are
strings (`"01"`, not `1`).
'''

DOC_RULES = '''## Rules only the gateway's validator enforces

The generated schemas check everything a schema language can say: presence, occurrences, code
lists, lengths, patterns, ranges, and that a date is a real calendar day (`1999-02-30` fails
both). A document that passes its schema can still be rejected by the gateway's C validators
(`gateway/model/dict.c`, `gateway/base/idnum.c`) for rules that span characters or fields:

- **GB 11643 check character** of a resident ID number (ISO 7064 MOD 11-2): the schema checks
  only the shape (18 characters with a plausible birth date, or 15 digits) and that the address
  code starts with a province of GB/T 2260 (or 83, the residence permits of Taiwan residents), as
  the gateway does (`gb11643.province`); a county code retired since passes both.
- **Legacy 15-digit ID numbers** are converted to 18 characters (century `19`, computed check
  character) and accepted **with a warning**.
- **Statistics-bureau region codes** (level `statistical`, e.g. 131071 廊坊经济技术开发区) are in
  the code list and pass the schema; the gateway accepts them **with a warning** because they
  are not GB/T 2260 administrative divisions.
- **Retired region codes** (level `retired`, e.g. 320103 白下区, merged into 秦淮区 in 2013) are in
  the code list and pass the schema; the gateway accepts them **with a warning** (`code.warning`,
  e.g. `320103 is a retired GB/T 2260 code (白下区, last listed in GB/T 2260 revision 2012-10);
  current divisions have replaced it`).
- **Disability certificate number agrees with its holder**: its first 18 characters are the
  holder's ID number and its last two digits the category and grade sent in the same record.
- **Periods**: an end date (`valid_to`, `end_date`) is not before the start date.
- **Households**: members are unique and one of them is the head of household; record kinds that
  need a household carry one.
- **Record kinds and fact types**: a record's facts are of the types its kind allows, with their
  required attributes (the canonical schema expresses this too; department schemas do not).

- **JSON itself**: a member twice in one object (`json.duplicate_key`) and an integer beyond 64
  bits (`json.number_range`) are refused by the gateway; a schema sees the parsed document, with
  one member and a number of any size.

`tests/unit/test_schemas_agree.c` checks, on every sample document under
`tests/data/<dept>/agree/`, that the generated schema and the gateway give the same verdict on
every rule the schema can express. `tests/schemas/independent.py` (meson test
`schemas_independent`) judges the published JSON schemas with an independent validator, Debian's
`python3-jsonschema` (draft 2020-12): every hrss, canonical and health (FHIR) document of
`tests/data/` and the fuzz corpora gets the same verdict from it and from the gateway, but for the
rules above (the check character, the birth date, and JSON itself), each printed.

For FHIR one class more: the mapping's rules. `fhir.schema.json` describes FHIR R4 JSON as far as
msgw reads it (the gender code's value set included), and a document it accepts is valid FHIR;
whether a valid resource carries what makes it one of the gateway's records is the mapping's
verdict (docs/formats/health.md): a subject that resolves to one Patient of the Bundle
(`fhir.subject.*`), a resident ID in the identifier system the deployment configures
(`fhir.patient.no_resident_id`), an ICD-10 or LOINC code (`fhir.condition.no_icd10`,
`fhir.observation.no_loinc`), a Bundle type msgw maps (`fhir.bundle.type`). The test lists them
in `FHIR_MAPPING`, each printed when it explains a disagreement.
'''


def render_dictionary_doc(d, codelists, specs):
    out = [DOC_INTRO % {'version': d.get('version', '?')}]
    out += doc_elements(d, codelists, specs) + ['']
    out += doc_facts_and_kinds(d) + ['']
    out += ['## Code lists', '']
    for cid in sorted(codelists):
        out += (doc_region(codelists[cid]) if cid == 'region'
                else doc_codelist(cid, codelists[cid])) + ['']
    out += doc_specs(specs)
    out += [DOC_RULES]
    return '\n'.join(out).rstrip('\n') + '\n'


# ---------------------------------------------------------------------------------------------
# Output

FIRST_KEYS = ('$schema', '$id', '@context', 'type')


def ordered(obj):
    """Keys sorted, except that a schema's identity and type come first for the reader."""
    if isinstance(obj, dict):
        keys = [k for k in FIRST_KEYS if k in obj] + sorted(k for k in obj if k not in FIRST_KEYS)
        return {k: ordered(obj[k]) for k in keys}
    if isinstance(obj, list):
        return [ordered(v) for v in obj]
    return obj


def dump_json(obj):
    return json.dumps(ordered(obj), ensure_ascii=False, indent=1) + '\n'


def generate(d, codelists, specs):
    """{output file name: text} for every expected output (and any further spec)."""
    out = {}
    for sid in sorted(set(EXPECTED_SPECS) | set(specs)):
        spec = specs.get(sid) or {'id': sid, 'format': EXPECTED_SPECS[sid],
                                  'title': '%s (no spec yet: schemas/messages/%s.json)' % (sid, sid)}
        if sid in EXPECTED_SPECS and spec['format'] != EXPECTED_SPECS[sid]:
            fail('schemas/messages/%s.json: format must be %s' % (sid, EXPECTED_SPECS[sid]))
        name = sid + OUTPUT_SUFFIX[spec['format']]
        if spec['format'] == 'xml':
            out[name] = gen_xsd(spec, d, codelists, 'schemas/messages/%s.json' % sid)
        elif spec['format'] == 'json':
            out[name] = dump_json(gen_json_schema(spec, d, codelists))
        else:
            out[name] = dump_json(gen_csvw(spec, d, codelists))
    out[CANONICAL_OUTPUT] = dump_json(gen_canonical(d, codelists))
    return out


def write(path, text):
    # Always rewritten, even when unchanged: ninja compares output and input times.
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description='dictionary + message specs -> XSD / JSON Schema')
    ap.add_argument('--schemas', required=True, help='the schemas/ directory')
    ap.add_argument('--out', help='directory for the generated schemas')
    ap.add_argument('--doc', help='write the data dictionary document (docs/dictionary.md)')
    ap.add_argument('--check-doc', metavar='FILE',
                    help='exit 1 if FILE differs from the data dictionary document (for tests)')
    args = ap.parse_args()
    if not args.out and not args.doc and not args.check_doc:
        ap.error('nothing to do: give --out, --doc or --check-doc')
    d, codelists, specs = load_inputs(args.schemas)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        for name, text in sorted(generate(d, codelists, specs).items()):
            write(os.path.join(args.out, name), text)
    if args.doc:
        write(args.doc, render_dictionary_doc(d, codelists, specs))
    if args.check_doc:
        check_doc(args.check_doc, render_dictionary_doc(d, codelists, specs))


def check_doc(path, text):
    try:
        with open(path, encoding='utf-8') as f:
            current = f.read()
    except OSError as e:
        fail('%s: %s' % (path, e))
    if current != text:
        fail('%s is stale: run python3 tools/gen_schemas.py --schemas schemas --doc %s'
             % (path, path))
    print('%s is up to date' % path)


if __name__ == '__main__':
    main()
