#!/usr/bin/env python3
"""rewrite_launches.py IN.cu OUT.cpp — turns every `kernel<<<grid, block[, smem, stream]>>>(args)` into
`::emu::launch(kernel, dim3(grid), dim3(block), size_t(smem), args)` so a host compiler can build the file against the
emulated CUDA headers in this folder (run_emulated.sh). Nothing else in the file changes."""
import sys, re
src = open(sys.argv[1]).read()
out = []
i = 0
while True:
    j = src.find('<<<', i)
    if j < 0:
        out.append(src[i:]); break
    # kernel name: identifier before <<<
    k = j
    if src[k-1] == '>':  # template arguments
        depth = 0
        while True:
            k -= 1
            if src[k] == '>': depth += 1
            elif src[k] == '<':
                depth -= 1
                if depth == 0: break
    while k > 0 and (src[k-1].isalnum() or src[k-1] in '_:'):
        k -= 1
    name = src[k:j]
    e = src.find('>>>', j)
    cfg = src[j+3:e]
    # split top-level commas
    parts, depth, cur = [], 0, ''
    for ch in cfg:
        if ch in '([{': depth += 1
        if ch in ')]}': depth -= 1
        if ch == ',' and depth == 0:
            parts.append(cur); cur = ''
        else:
            cur += ch
    parts.append(cur)
    assert src[e+3] == '(', src[e:e+10]
    depth, p = 0, e+3
    while True:
        if src[p] == '(': depth += 1
        elif src[p] == ')':
            depth -= 1
            if depth == 0: break
        p += 1
    args = src[e+4:p]
    out.append(src[i:k])
    sep = ', ' if args.strip() else ''
    shared = parts[2].strip() if len(parts) > 2 else '0'
    out.append('::emu::launch(%s, dim3(%s), dim3(%s), size_t(%s)%s%s)' % (name, parts[0].strip(), parts[1].strip(),
                                                                        shared, sep, args))
    i = p + 1
open(sys.argv[2], 'w').write(''.join(out))
