#!/usr/bin/env python3
"""Splits the Kermany TRAIN zip into a training zip and an external zip of another acquisition
batch (docs/experiments.md, round 2): every NORMAL2-* image and every pneumonia patient numbered
1474 or above (the last 20% of patient numbers) go to the external set; nothing of theirs is in
training. Usage: make-shift-split.py <kermany-train-224.zip> <out-dir>"""
import os
import re
import sys
import zipfile

src_path, out_dir = sys.argv[1], sys.argv[2]
os.makedirs(out_dir, exist_ok=True)
src = zipfile.ZipFile(src_path)
train = zipfile.ZipFile(os.path.join(out_dir, 'shift-train.zip'), 'w', zipfile.ZIP_STORED)
external = zipfile.ZipFile(os.path.join(out_dir, 'shift-external.zip'), 'w', zipfile.ZIP_STORED)
counts = {'train': {}, 'external': {}}
for name in src.namelist():
    if name.endswith('/'):
        continue
    base, cls = name.split('/')[-1], name.split('/')[-2]
    person = re.search(r'person(\d+)_', base)
    held = base.startswith('NORMAL2-') or (person is not None and int(person.group(1)) >= 1474)
    target, key = (external, 'external') if held else (train, 'train')
    target.writestr(f'{cls}/{base}', src.read(name))
    counts[key][cls] = counts[key].get(cls, 0) + 1
train.close()
external.close()
print(counts)
