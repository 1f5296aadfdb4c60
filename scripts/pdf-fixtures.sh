#!/usr/bin/env bash
# Regenerates the PDF fixtures of ingest's text-fidelity test
# (ingest/testdata/pdf): each source document NAME.md (a small Markdown
# subset: headings, paragraphs, lists, tables) becomes a page NAME.html
# (in a scratch folder), then
#   NAME.chromium.pdf     by Chromium's print to PDF (Skia), and
#   NAME.libreoffice.pdf  by LibreOffice Writer's PDF export,
# and NAME.txt, the text a reader sees, one block a line: what the test
# measures the character error rate against.
#
# The test reads only the committed files, so CI needs neither program.
# Needs Debian's chromium, libreoffice-writer-nogui (or libreoffice-writer)
# fonts-noto-cjk and fonts-wqy-microhei; installs them when missing (as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=ingest/testdata/pdf

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-writer-nogui)
fc-list | grep -q 'Noto Sans CJK' || need+=(fonts-noto-cjk)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for md in "$dir"/*.md; do
  name=$(basename "$md" .md)
  # Chinese in two kinds of font: Noto Sans CJK (CFF outlines, which Skia can
  # only embed as Type 3 fonts, as Chrome on Linux prints) for the returns
  # policy, WenQuanYi Micro Hei (TrueType: Type 0 / Identity-H fonts, as
  # Chrome on Windows prints with YaHei) for the others.
  cjk="WenQuanYi Micro Hei"
  [ "$name" = returns-zh ] && cjk="Noto Sans CJK SC"
  # HTML for the printers and the reference text, from one reading of the source.
  python3 - "$md" "$work/$name.html" "$dir/$name.txt" "$cjk" <<'PY'
import html, re, sys
src, out_html, out_txt, cjk = sys.argv[1:]
lines = open(src, encoding="utf-8").read().splitlines()
zh = bool(re.search(r"[\u4e00-\u9fff]", "".join(lines)))
body, text, i = [], [], 0
while i < len(lines):
    l = lines[i]
    if not l.strip():
        i += 1
        continue
    m = re.match(r"(#{1,3}) (.*)", l)
    if m:
        n = len(m.group(1))
        body.append(f"<h{n}>{html.escape(m.group(2))}</h{n}>")
        text.append(m.group(2))
        i += 1
        continue
    if l.startswith("|"):
        rows = []
        while i < len(lines) and lines[i].startswith("|"):
            cells = [c.strip() for c in lines[i].strip("|").split("|")]
            if not all(re.fullmatch(r"-+", c) for c in cells):
                rows.append(cells)
            i += 1
        tr = []
        for r, cells in enumerate(rows):
            tag = "th" if r == 0 else "td"
            tr.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
            text.append(" ".join(cells))
        body.append("<table>" + "".join(tr) + "</table>")
        continue
    if re.match(r"(- |\d+\. )", l):
        ordered = l[0].isdigit()
        items = []
        while i < len(lines) and re.match(r"(- |\d+\. )", lines[i]):
            item = re.sub(r"^(- |\d+\. )", "", lines[i])
            items.append(f"<li>{html.escape(item)}</li>")
            # Printers draw an ordered list's numbers as text, a bullet as a shape or a symbol.
            text.append(lines[i] if ordered else item)
            i += 1
        tag = "ol" if ordered else "ul"
        body.append(f"<{tag}>" + "".join(items) + f"</{tag}>")
        continue
    body.append(f"<p>{html.escape(l)}</p>")
    text.append(l)
    i += 1
lang = "zh-CN" if zh else "en"
font = f'"{cjk}", sans-serif' if zh else '"DejaVu Sans", sans-serif'
# No <title>: a browser then names the PDF after the page's address, as a
# user printing a page without one gets.
page = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<style>
body {{ font-family: {font}; font-size: 11pt; line-height: 1.45; margin: 0; }}
h1 {{ font-size: 20pt; }} h2 {{ font-size: 14pt; margin-top: 1.2em; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #999; padding: 3pt 8pt; text-align: left; }}
</style></head>
<body>
{chr(10).join(body)}
</body></html>
"""
open(out_html, "w", encoding="utf-8").write(page)
open(out_txt, "w", encoding="utf-8").write("\n".join(text) + "\n")
PY
  html="$work/$name.html"
  chromium --headless --no-sandbox --disable-gpu --no-pdf-header-footer \
    --print-to-pdf="$work/$name.chromium.pdf" "file://$html" >/dev/null 2>&1
  # Writer (not Writer/Web) lays the HTML out on A4 pages as a document.
  soffice --headless -env:UserInstallation="file://$work/lo" --infilter="HTML (StarWriter)" \
    --convert-to pdf:writer_pdf_Export --outdir "$work/lo-out" "$html" >/dev/null 2>&1
  mv "$work/$name.chromium.pdf" "$dir/"
  mv "$work/lo-out/$name.pdf" "$dir/$name.libreoffice.pdf"
  echo "pdf-fixtures: $name: $(stat -c %s "$dir/$name.chromium.pdf") + $(stat -c %s "$dir/$name.libreoffice.pdf") bytes"
done
