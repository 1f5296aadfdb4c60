#!/usr/bin/env python3
"""Checks the labelled dev and held-out test question files against the demo knowledge bases.

Usage: python3 eval/questions/check.py [--shared DIR]   (from the repo root;
DIR defaults to $KEFU_SHARED or ../shared). Prints counts per file, language
and kind; exits 1 on the first kind of problem it finds in any line: bad JSON,
unknown or missing fields, a label that is not exactly one of faq_questions /
doc_ids / none / handoff (a hand-off may also name an FAQ entry), an FAQ
question not copied exactly from shop_faq.csv, a doc id that is not a file of
the help KB, or a question repeated in these files or in the older
eval/questions/*_labelled.jsonl of the same KB.
"""
import argparse
import collections
import csv
import json
import os
import re
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FILES = {'shop_dev.jsonl': 'faq', 'help_dev.jsonl': 'doc',
         'shop_test.jsonl': 'faq', 'help_test.jsonl': 'doc',
         'shop_probe.jsonl': 'faq'}
# the older labelled questions of the same KB (the same question asked of the
# other KB is a different test case)
OLD = {'shop_dev.jsonl': 'eval/questions/shop_labelled.jsonl',
       'help_dev.jsonl': 'eval/questions/help_labelled.jsonl',
       'shop_test.jsonl': 'eval/questions/shop_labelled.jsonl',
       'shop_probe.jsonl': 'eval/questions/shop_labelled.jsonl',
       'help_test.jsonl': 'eval/questions/help_labelled.jsonl'}
KINDS = ['exact', 'paraphrase', 'colloquial', 'typo', 'traditional', 'mixed',
         'near_miss', 'off_topic', 'handoff']
LANGS = ['zh', 'en', 'mixed']
FIELDS = {'question', 'lang', 'kind', 'faq_questions', 'doc_ids', 'none',
          'handoff', 'near', 'note'}
CJK = re.compile(r'[\u3400-\u9fff]')
LATIN = re.compile(r'[A-Za-z]{2,}')


def key(q):
    """Normalises a question for duplicate detection: width, case, punctuation, spaces."""
    q = unicodedata.normalize('NFKC', q).lower()
    return ''.join(ch for ch in q if ch.isalnum())


def script_lang(q):
    c, l = bool(CJK.search(q)), bool(LATIN.search(q))
    return 'mixed' if c and l else ('zh' if c else 'en')


def check_line(o, label, faqs, docs):
    """Returns the problems of one parsed line."""
    errs = []
    extra = set(o) - FIELDS
    if extra:
        errs.append('unknown fields %s' % sorted(extra))
    q = o.get('question')
    if not isinstance(q, str) or not q.strip():
        errs.append('no question')
        q = ''
    lang, kind = o.get('lang'), o.get('kind')
    if lang not in LANGS:
        errs.append('lang %r not one of %s' % (lang, LANGS))
    elif q and script_lang(q) != lang:
        errs.append('lang %r but the text looks %r' % (lang, script_lang(q)))
    if kind not in KINDS:
        errs.append('kind %r not one of %s' % (kind, KINDS))
    fq, di = o.get('faq_questions'), o.get('doc_ids')
    none, handoff = o.get('none'), o.get('handoff')
    for name, v in (('none', none), ('handoff', handoff)):
        if v is not None and v is not True:
            errs.append('%s must be true when present' % name)
    for name, v in (('faq_questions', fq), ('doc_ids', di)):
        if v is not None and (not isinstance(v, list) or not v or
                              not all(isinstance(x, str) for x in v) or len(set(v)) != len(v)):
            errs.append('%s must be a non-empty list of distinct strings' % name)
    answers = [n for n, v in (('faq_questions', fq), ('doc_ids', di), ('none', none)) if v]
    if handoff:
        if none or di:
            errs.append('a hand-off may add faq_questions, nothing else')
    elif len(answers) != 1:
        errs.append('needs exactly one of faq_questions, doc_ids, none, handoff (has %s)' % answers)
    if di and label != 'doc' or fq and label != 'faq':
        errs.append('this file is labelled by %s' % ('doc_ids' if label == 'doc' else 'faq_questions'))
    for f in fq or []:
        if f not in faqs:
            errs.append('no FAQ entry asks %r' % f)
    for d in di or []:
        if d not in docs:
            errs.append('no help document %r' % d)
    # "handoff": true on a question of another kind (how do I reach a human
    # agent?) means both the FAQ entry and a hand-off are right.
    if kind == 'handoff' and not handoff or handoff and kind != 'handoff' and not fq:
        errs.append('kind handoff needs "handoff": true; another kind with it also names the FAQ entry')
    if kind in ('near_miss', 'off_topic') and not none:
        errs.append('%s needs "none": true' % kind)
    near = o.get('near')
    if near is not None and kind != 'near_miss':
        errs.append('"near" is given for near_miss questions only')
    if near is not None and near not in faqs and near not in docs:
        errs.append('near %r is neither an FAQ question nor a help document' % near)
    if kind == 'traditional' and lang != 'zh':
        errs.append('traditional questions are zh')
    if kind == 'mixed' and lang != 'mixed':
        errs.append('kind mixed needs lang mixed')
    if 'note' in o and (not isinstance(o['note'], str) or not o['note'].strip()):
        errs.append('empty note')
    return errs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--shared', default=os.environ.get('KEFU_SHARED') or os.path.join(ROOT, '..', 'shared'))
    args = ap.parse_args()
    demo = os.path.join(args.shared, 'data', 'demo')
    with open(os.path.join(demo, 'shop_faq.csv'), encoding='utf-8') as f:
        faqs = {r['question'] for r in csv.DictReader(f)}
    help_dir = os.path.join(demo, 'help')
    docs = set()
    for d, _, names in os.walk(help_dir):
        for n in names:
            if n.endswith(('.md', '.mdx')):
                docs.add(os.path.relpath(os.path.join(d, n), help_dir).replace(os.sep, '/'))

    old = {}
    for name, path in OLD.items():
        old[name] = {}
        with open(os.path.join(ROOT, path), encoding='utf-8') as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    old[name].setdefault(key(json.loads(line)['question']), '%s:%d' % (path, n))

    seen = {}
    bad = 0
    counts = collections.Counter()
    for name, label in FILES.items():
        path = os.path.join(HERE, name)
        with open(path, encoding='utf-8') as f:
            for n, line in enumerate(f, 1):
                where = '%s:%d' % (name, n)
                if not line.strip():
                    print('%s: empty line' % where)
                    bad += 1
                    continue
                try:
                    o = json.loads(line)
                except ValueError as e:
                    print('%s: %s' % (where, e))
                    bad += 1
                    continue
                if not isinstance(o, dict):
                    print('%s: not a JSON object' % where)
                    bad += 1
                    continue
                errs = check_line(o, label, faqs, docs)
                k = key(o.get('question') or '')
                # The FAQ's own questions (kind exact) are in every set.
                for prev in (seen.get(k), old[name].get(k)) if o.get('kind') != 'exact' else ():
                    if prev:
                        errs.append('repeats %s' % prev)
                seen.setdefault(k, where)
                for e in errs:
                    print('%s: %s' % (where, e))
                bad += bool(errs)
                counts[(name, o.get('lang'), o.get('kind'))] += 1

    print('%-16s %-6s' % ('file', 'lang') + ''.join('%12s' % k for k in KINDS) + '%8s' % 'total')
    for name in FILES:
        for lang in LANGS:
            row = [counts[(name, lang, k)] for k in KINDS]
            if sum(row):
                print('%-16s %-6s' % (name, lang) + ''.join('%12d' % c for c in row) + '%8d' % sum(row))
    for lang in LANGS:
        print('%-16s %-6s %d' % ('all', lang, sum(c for (_, l, _), c in counts.items() if l == lang)))
    if bad:
        print('%d bad lines' % bad)
        sys.exit(1)


if __name__ == '__main__':
    main()
