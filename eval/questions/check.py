#!/usr/bin/env python3
"""Checks labelled question files for the demo knowledge bases.

Usage: python3 eval/questions/check.py eval/questions/*_test.jsonl

A file whose name starts with "shop" is checked against the shop FAQ
(../shared/data/demo/shop_faq.csv), one starting with "help" against the
help-center docs (../shared/data/demo/help/). It checks that every line
parses, has the fields TEST_SETS.md describes and one expected answer, that
every faq_questions value is a canonical FAQ question and every doc id an
existing document, that "lang" matches the scripts used and "traditional"
lines (and only they) contain Traditional characters, and that no question
repeats another or one of cmd/kefu/demo/*_questions.jsonl. It prints the
counts per file, language and kind, and exits 1 on any error.

Traditional text is recognised with OpenCC's t2s conversion when the
`opencc` command is installed (Debian package opencc); without it, a short
list of Traditional-only characters is used, which misses some.
"""
import csv
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get('KEFU_SHARED', os.path.join(REPO, '..', 'shared'))
OLD = [os.path.join(REPO, 'cmd', 'kefu', 'demo', n) for n in ('shop_questions.jsonl', 'help_questions.jsonl')]

KINDS = ('exact', 'paraphrase', 'colloquial', 'typo', 'traditional', 'mixed', 'near_miss', 'off_topic', 'handoff')
FIELDS = {'question', 'lang', 'kind', 'faq_questions', 'doc_ids', 'none', 'handoff', 'near', 'note'}
CJK = re.compile(r'[\u4e00-\u9fff]')
LATIN = re.compile(r'[A-Za-z]{2,}')
TRAD_SAMPLE = set('麼請問貨帳裡幾會嗎們這樣還開發電稅專處為優唄敗訂單聯繫時間換權積數類質題義務點從價區圖業長')


def t2s(s):
    if shutil.which('opencc'):
        return subprocess.run(['opencc', '-c', 't2s.json'], input=s, capture_output=True,
                              text=True, check=True).stdout.rstrip('\n')
    return ''.join('?' if ch in TRAD_SAMPLE else ch for ch in s)


def norm(s):
    return re.sub(r'[\W_]+', '', unicodedata.normalize('NFKC', s).lower())


def load_kbs():
    faq = {r['question'] for r in csv.DictReader(open(os.path.join(SHARED, 'data', 'demo', 'shop_faq.csv'), encoding='utf-8'))}
    root = os.path.join(SHARED, 'data', 'demo', 'help')
    docs = {os.path.relpath(os.path.join(d, f), root)
            for d, _, fs in os.walk(root) for f in fs if f.endswith(('.md', '.mdx'))}
    return faq, docs


def check_line(o, kb, faq, docs):
    """Returns the problems of one parsed line."""
    errs = []
    extra = set(o) - FIELDS
    if extra:
        errs.append(f'unknown fields {sorted(extra)}')
    q, lang, kind = o.get('question'), o.get('lang'), o.get('kind')
    if not isinstance(q, str) or not q.strip():
        return errs + ['empty question']
    if lang not in ('zh', 'en', 'mixed'):
        errs.append(f'lang {lang!r}')
    if kind not in KINDS:
        errs.append(f'kind {kind!r}')
    for flag in ('none', 'handoff'):
        if flag in o and o[flag] is not True:
            errs.append(f'{flag} must be true')
    answers = [k for k in ('faq_questions', 'doc_ids', 'none') if k in o]
    if kind == 'handoff':
        if not o.get('handoff') or answers not in ([], ['faq_questions']):
            errs.append('a handoff has handoff:true and at most faq_questions')
    else:
        if len(answers) != 1:
            errs.append(f'needs exactly one of faq_questions/doc_ids/none, has {answers}')
        if o.get('handoff') and 'faq_questions' not in o:
            errs.append('handoff on a non-handoff question needs faq_questions')
    if kind in ('near_miss', 'off_topic') and not o.get('none'):
        errs.append(f'{kind} must be none')
    if kind == 'near_miss':
        near = o.get('near')
        if kb == 'shop' and near is None:
            errs.append('a shop near_miss names the entry it resembles in "near"')
        if near is not None and near not in faq and near not in docs:
            errs.append(f'near {near!r} is neither an FAQ question nor a doc id')
    elif 'near' in o:
        errs.append('"near" belongs to near_miss questions')
    if kb == 'shop' and 'doc_ids' in o or kb == 'help' and 'faq_questions' in o:
        errs.append(f'wrong answer field for the {kb} KB')
    for v in o.get('faq_questions', []):
        if v not in faq:
            errs.append(f'not a canonical FAQ question: {v!r}')
    ids = o.get('doc_ids', [])
    if len(set(ids)) != len(ids):
        errs.append('repeated doc id')
    for v in ids:
        if v not in docs:
            errs.append(f'no such document: {v!r}')
    hasz, hasl = bool(CJK.search(q)), bool(LATIN.search(q))
    if lang == 'en' and hasz or lang == 'zh' and (not hasz or hasl) or lang == 'mixed' and not (hasz and hasl):
        errs.append(f'lang {lang} does not match the scripts of {q!r}')
    if kind == 'mixed' and lang != 'mixed':
        errs.append('kind mixed needs lang mixed')
    if hasz:
        trad = t2s(q) != q
        if kind == 'traditional' and not trad:
            errs.append('traditional question without Traditional characters')
        if kind != 'traditional' and trad:
            errs.append(f'Traditional characters in a {kind} question')
    return errs


def main(paths):
    faq, docs = load_kbs()
    old = [norm(json.loads(line)['question']) for p in OLD if os.path.exists(p)
           for line in open(p, encoding='utf-8') if line.strip()]
    errors, seen, counts = [], {}, Counter()
    for path in paths:
        name = os.path.basename(path)
        kb = 'shop' if name.startswith('shop') else 'help' if name.startswith('help') else None
        if kb is None:
            errors.append(f'{path}: name must start with shop or help')
            continue
        for i, line in enumerate(open(path, encoding='utf-8'), 1):
            where = f'{name}:{i}'
            try:
                o = json.loads(line)
            except ValueError as e:
                errors.append(f'{where}: {e}')
                continue
            errors += [f'{where}: {e}' for e in check_line(o, kb, faq, docs)]
            q = o.get('question') or ''
            k = norm(q)
            if k in seen:
                errors.append(f'{where}: repeats {seen[k]}')
            seen[k] = where
            # An exact question is the FAQ question itself and may equal an old one.
            if o.get('kind') != 'exact':
                best = max((difflib.SequenceMatcher(None, k, x).ratio() for x in old), default=0)
                if best >= 0.85:
                    errors.append(f'{where}: {best:.2f} similar to a question in cmd/kefu/demo: {q}')
            counts[(name, o.get('lang'), o.get('kind'))] += 1
    for e in errors:
        print('ERROR', e)
    for name in dict.fromkeys(n for n, _, _ in counts):
        for lang in ('zh', 'en', 'mixed'):
            row = {k: counts[(name, lang, k)] for k in KINDS if counts[(name, lang, k)]}
            if row:
                print(f'{name:18} {lang:5} {sum(row.values()):4}  ' + ' '.join(f'{k}={v}' for k, v in row.items()))
    bylang = Counter()
    for (_, lang, _), v in counts.items():
        bylang[lang] += v
    print(f'{sum(counts.values())} questions:', ', '.join(f'{k} {v}' for k, v in bylang.items()), f'- {len(errors)} errors')
    return 1 if errors else 0


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
