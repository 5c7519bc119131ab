#!/usr/bin/env python3
"""The `layers` test: every file includes only headers of its own layer or of layers below it.

gateway/LAYERS declares the layers, lowest first, with their folders.  Public headers live in
include/msgw/<layer>/ and are included as "msgw/<layer>/<name>.h"; a private header is included by
name from its own folder.  Reports each file that includes a header of a higher layer, an unknown
layer, a header that does not exist, or a private header of another folder; and checks that
meson.build builds the layers in the declared order.  Exit status 1 names every problem.

    python3 tools/check_layers.py [--root DIR]
"""
import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read_layers(root):
    layers = []
    with open(os.path.join(root, 'gateway', 'LAYERS'), encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].split()
            if line:
                layers.append((line[0], line[1]))
    return layers


def sources(folder):
    for dirpath, _, names in os.walk(folder):
        for n in sorted(names):
            if n.endswith(('.c', '.h')):
                yield os.path.join(dirpath, n)


def check_file(root, path, level, index, problems):
    rel = os.path.relpath(path, root)
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    for m in INCLUDE.finditer(text):
        inc = m.group(1)
        parts = inc.split('/')
        if parts[0] == 'msgw' and len(parts) == 3:
            layer = parts[1]
            if layer not in index:
                problems.append('%s includes %s: msgw/%s is not a layer of gateway/LAYERS' % (rel, inc, layer))
            elif index[layer] > level:
                problems.append('%s includes %s: layer %s is above this file\'s layer' % (rel, inc, layer))
            elif not os.path.exists(os.path.join(root, 'include', inc)):
                problems.append('%s includes %s, which does not exist' % (rel, inc))
        elif '/' in inc:
            problems.append('%s includes %s: a private header of another folder (public headers are '
                            '"msgw/<layer>/<name>.h")' % (rel, inc))
        elif not os.path.exists(os.path.join(os.path.dirname(path), inc)):
            problems.append('%s includes %s, which is not in its own folder' % (rel, inc))


def check_meson_order(root, layers, problems):
    path = os.path.join(root, 'meson.build')
    if not os.path.exists(path):
        return
    with open(path, encoding='utf-8') as f:
        built = re.findall(r"^\s*subdir\('([^']+)'\)", f.read(), re.M)
    folders = [folder for _, folder in layers]
    order = [b for b in built if b in folders]
    if order != folders:
        problems.append('meson.build builds the layers in the order %s, gateway/LAYERS declares %s'
                        % (', '.join(order), ', '.join(folders)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
    root = os.path.abspath(ap.parse_args().root)
    layers = read_layers(root)
    index = {name: i for i, (name, _) in enumerate(layers)}
    problems = []
    files = 0
    for name, folder in layers:
        for base in (os.path.join(root, folder), os.path.join(root, 'include', 'msgw', name)):
            for path in sources(base):
                files += 1
                check_file(root, path, index[name], index, problems)
    stray = [n for n in os.listdir(os.path.join(root, 'include', 'msgw'))
             if not os.path.isdir(os.path.join(root, 'include', 'msgw', n)) or n not in index]
    for n in stray:
        problems.append('include/msgw/%s is not in a layer folder' % n)
    check_meson_order(root, layers, problems)
    for p in problems:
        print(p)
    print('%d layers, %d files: %s' % (len(layers), files, 'ok' if not problems else '%d problems' % len(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
