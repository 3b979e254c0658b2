#!/usr/bin/env python3
"""Independent implementation of paw's program content ID (see paw_program_id
in include/paw.h), used to make tests/golden/bundle/*.id.  It shares no code
with libpaw: Python's zipfile, json and hashlib only.

    python3 program_id.py program.paw > program.id

The meta part is meta.json re-serialised with sorted keys, compact separators
and UTF-8 left unescaped, without program_id and created_at.  Only valid for
metas whose numbers print the same in Python and with C's %.17g (true for the
golden files: 16.0, 0.001, 0.75, 1.0, integers)."""
import hashlib, json, struct, sys, zipfile

def part(b):
    return struct.pack('<Q', len(b)) + b

z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
meta = json.loads(z.read('meta.json'))
meta.pop('program_id', None)
meta.pop('created_at', None)
meta.setdefault('version', 3)
canon = json.dumps(meta, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode()
pseudo = z.read('pseudo_program.txt') if 'pseudo_program.txt' in names else b''
h = hashlib.sha256(b'paw-program-v1\0' + part(z.read('adapter.gguf')) +
                   part(z.read('prompt_template.txt')) + part(pseudo) + part(canon))
print(h.hexdigest()[:20])
