#!/usr/bin/env python3
"""Top-1 accuracy (recall@1) of a run's answerable questions, per language
and kind, from `kefu eval --out DIR` (its per_query.tsv) and the question
file it asked.

Usage: python3 eval/questions/by_lang.py QUESTIONS.jsonl OUTDIR [OUTDIR...]
Prints one line per OUTDIR: "lang:right/answerable" and "lang/kind:…".
(summary.md gives recall@1 over all questions only.)
"""
import collections
import json
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    qs = {}
    with open(sys.argv[1], encoding='utf-8') as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                qs[o['question']] = o
    for out in sys.argv[2:]:
        st = collections.defaultdict(lambda: [0, 0])
        seen = set()
        with open(out + '/per_query.tsv', encoding='utf-8') as f:
            next(f)
            for line in f:
                cols = line.rstrip('\n').split('\t')
                q, mrr = cols[-1], float(cols[3])
                o = qs.get(q)
                if o is None or q in seen or o.get('none') or o.get('handoff'):
                    continue
                seen.add(q)
                for key in (o['lang'], o['lang'] + '/' + o['kind']):
                    st[key][0] += 1
                    st[key][1] += mrr == 1.0
        print(out, ' '.join('%s:%d/%d' % (k, v[1], v[0]) for k, v in sorted(st.items())))


if __name__ == '__main__':
    main()
