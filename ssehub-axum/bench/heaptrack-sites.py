#!/usr/bin/env python3
"""Heap per stream by call site, from heaptrack's stacks of what was still allocated at the end
(`heaptrack_print --flamegraph-cost-type leaked -F STACKS`): the bytes of each site divided by
the streams that were open, sites named by their innermost frames outside alloc/core/std.

    heaptrack-sites.py STACKS STREAMS [FRAMES [SITES]]   (see heaptrack.sh)
"""
import sys, re, collections
path, n = sys.argv[1], int(sys.argv[2])
depth = int(sys.argv[3]) if len(sys.argv) > 3 else 3
skip = re.compile(r'^(_RNv.*5alloc|alloc::|core::|std::|_\$LT\$alloc|_\$LT\$core|__rust|_RNvMNtCs.*alloc|_RNvXs.*alloc|bytes::bytes_mut::BytesMut::reserve|bytes::bytes_mut::BytesMut::with_capacity|_\$LT\$bytes..bytes_mut|malloc|realloc|calloc|operator new|<unresolved|\?\?)')
def clean(f):
    f = re.sub(r' \(.*\)$', '', f)
    f = re.sub(r'::h[0-9a-f]{16}$', '', f)
    f = f.replace('$LT$','<').replace('$GT$','>').replace('$u20$',' ').replace('$u7b$','{').replace('$u7d$','}').replace('..','::').replace('$RF$','&').replace('$C$',',').replace('$BP$','*')
    return f
agg = collections.Counter(); total = 0
for line in open(path):
    line = line.rstrip('\n')
    if not line: continue
    stack, cost = line.rsplit(' ', 1)
    cost = int(cost); total += cost
    frames = stack.split(';')
    picked = []
    for f in reversed(frames):
        if skip.match(f): continue
        picked.append(clean(f))
        if len(picked) == depth: break
    agg[' <- '.join(picked)] += cost
print(f"total leaked {total} B = {total/n:.0f} B per stream (n={n})")
for k, v in agg.most_common(int(sys.argv[4]) if len(sys.argv) > 4 else 25):
    print(f"{v/n:8.0f} B/stream  {k[:400]}")
