#!/usr/bin/env python3
"""bench/quality.sh on public test suites: SUITES_DIR holds one folder per suite (pdf.js,
poi, python-docx, python-pptx, pandoc), each the suite's files as checked out.

  suites_quality.py SUITES_DIR DEPOT WORK -> markdown: per suite and format, the figures, targets
  and the files below target with the reason the peer gives.

PDF: per-file word F1 vs `pdftotext -enc UTF-8` over the PDFs pdftotext reads (target: mean
>= 0.985, none < 0.9). DOCX: word recall vs `pandoc -t plain --columns=100000` (>= 0.995; the
figure at pandoc's default 72 columns is printed beside it, see below), and every paragraph
python-docx sees in a "Heading*" or "Title" style among depot's headings (its run text, with the
runs in smart tags and content controls that `paragraph.text` passes over: `shown_text`). PPTX: slide titles and
text vs python-pptx, word F1 (>= 0.995). Words: lower-cased runs of Unicode \\w after NFKC
(pdftotext writes Arabic presentation forms, depot the base letters), compared as multisets.
"""
import collections, os, re, shutil, subprocess, sys, unicodedata, json

WORD = re.compile(r"\w+", re.UNICODE)


def words(text):
    return collections.Counter(w.lower() for w in WORD.findall(unicodedata.normalize("NFKC", text)))


def f1(a, b):
    o = sum((a & b).values())
    return 2 * o / max(sum(a.values()) + sum(b.values()), 1), o


def files(root, ext):
    for base, _, names in os.walk(root):
        for n in sorted(names):
            if n.lower().endswith(ext):
                yield os.path.join(base, n)


def shown_text(paragraph):
    """python-docx's text of a paragraph (`paragraph.text`: its runs' text, tabs and breaks
    as python-docx writes them), counting the runs inside smart tags, custom XML and content
    controls too, which Word shows and `paragraph.text` passes over (POI's smarttag-snippet.docx:
    "'s Adventures in Wonderland" for the heading "Alice's Adventures in Wonderland")."""
    from docx.oxml.ns import qn
    from docx.text.run import Run
    containers = {qn("w:hyperlink"), qn("w:smartTag"), qn("w:customXml"), qn("w:sdt"), qn("w:sdtContent"),
                  qn("w:ins"), qn("w:fldSimple")}

    def walk(element):
        for child in element:
            if child.tag == qn("w:r"):
                yield Run(child, paragraph).text
            elif child.tag in containers:
                yield from walk(child)
    return "".join(walk(paragraph._p)).strip()


def shapes_in(shapes):
    """Every shape, those inside group shapes too: a group has no text frame of its own, and
    python-pptx's `slide.shapes` lists a group, not its members (test_slides.pptx: "Group test
    text")."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE
    for shape in shapes:
        yield shape
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from shapes_in(shape.shapes)


def extract(depot, path, out):
    shutil.rmtree(out, ignore_errors=True)
    r = subprocess.run(["timeout", "60", depot, "extract", path, "--out", out], capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(os.path.join(out, "text.txt")):
        return None, (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1][:120]
    return open(os.path.join(out, "text.txt"), encoding="utf-8").read(), None


def main(suites, depot, work):
    rows, below = [], []
    everything = {"pdf": [], "docx": [0, 0, 0, 0, 0], "pptx": [0, 0, 0, 0]}
    out = os.path.join(work, "x")
    for suite in sorted(os.listdir(suites)):
        root = os.path.join(suites, suite)
        # PDF
        scores = []
        for f in files(root, ".pdf"):
            ref = subprocess.run(["timeout", "60", "pdftotext", "-enc", "UTF-8", f, "-"], capture_output=True)
            if ref.returncode != 0:
                continue
            rw = words(ref.stdout.decode("utf-8", "replace"))
            if not rw:
                continue
            text, err = extract(depot, f, out)
            score = f1(words(text or ""), rw)[0]
            scores.append(score)
            if score < 0.9:
                below.append((suite, os.path.relpath(f, root), "PDF F1 %.3f" % score, err or ""))
        if scores:
            rows.append((suite, "PDF word F1 vs pdftotext (mean of %d)" % len(scores), sum(scores) / len(scores), 0.985,
                         "%d below 0.9" % sum(s < 0.9 for s in scores)))
            everything["pdf"] += scores
        # DOCX. The reference is `pandoc -t plain --columns=100000`: at its default 72 columns
        # pandoc's grid tables break words inside narrow cells ("FOR OF" / "FICIAL", words no
        # document holds) and print a table too wide to lay out as "[TABLE]" — its rendering,
        # not text depot loses. The 72-column figure is printed too, as information. pandoc
        # takes minutes on a few files at that width: PANDOC_TIMEOUT seconds (900).
        hit = total = 0
        wide_hit = wide_total = 0
        heads_ok = heads_n = 0
        n = 0
        for f in files(root, ".docx"):
            ref = subprocess.run(["timeout", "60", "pandoc", "-t", "plain", f], capture_output=True)
            if ref.returncode != 0:
                continue
            wide = subprocess.run(["timeout", os.environ.get("PANDOC_TIMEOUT", "900"), "pandoc", "-t", "plain", "--columns=100000", f],
                                  capture_output=True)
            text, err = extract(depot, f, out)
            ours = words(text or "")
            rw = words(ref.stdout.decode("utf-8", "replace"))
            o = sum((ours & rw).values())
            hit, total, n = hit + o, total + sum(rw.values()), n + 1
            ww = words(wide.stdout.decode("utf-8", "replace")) if wide.returncode == 0 else rw
            wo = sum((ours & ww).values())
            wide_hit, wide_total = wide_hit + wo, wide_total + sum(ww.values())
            if sum(ww.values()) and wo / sum(ww.values()) < 0.995:
                note = "; %.3f at 72 columns" % (o / sum(rw.values())) if sum(rw.values()) else ""
                below.append((suite, os.path.relpath(f, root), "DOCX recall %.3f%s" % (wo / sum(ww.values()), note), err or ""))
            ours = set()
            sp = os.path.join(out, "structure.json")
            if os.path.exists(sp):
                ours = {h["title"] for h in json.load(open(sp)).get("headings", [])}
            try:
                import docx
                theirs = [shown_text(p) for p in docx.Document(f).paragraphs
                          if p.style is not None and p.style.name and (p.style.name.startswith("Heading") or p.style.name == "Title") and shown_text(p)]
            except Exception:
                theirs = []
            heads_n += len(theirs)
            heads_ok += sum(t in ours for t in theirs)
            missing = [t for t in theirs if t not in ours]
            if missing:
                below.append((suite, os.path.relpath(f, root), "heading missing: %r" % missing[0][:60], ""))
        if n:
            rows.append((suite, "DOCX word recall vs pandoc --columns=100000 (%d files)" % n, wide_hit / max(wide_total, 1), 0.995,
                         "%d words; headings %d of %d" % (wide_total, heads_ok, heads_n)))
            rows.append((suite, "DOCX word recall vs pandoc at 72 columns (%d files)" % n, hit / max(total, 1), None,
                         "%d words" % total))
            everything["docx"] = [a + b for a, b in zip(everything["docx"], (wide_hit, wide_total, n, heads_ok, heads_n))]
        # PPTX
        tp = fp = fn = 0
        n = 0
        for f in files(root, ".pptx"):
            try:
                from pptx import Presentation
                prs = Presentation(f)
                ref = []
                for slide in prs.slides:
                    for shape in shapes_in(slide.shapes):
                        if shape.has_text_frame:
                            ref.append(shape.text_frame.text)
                        if getattr(shape, "has_table", False) and shape.has_table:
                            ref += [c.text for r in shape.table.rows for c in r.cells]
                    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                        ref.append(slide.notes_slide.notes_text_frame.text)
            except Exception:
                continue
            text, err = extract(depot, f, out)
            ours, theirs = words(text or ""), words("\n".join(ref))
            o = sum((ours & theirs).values())
            tp, fp, fn, n = tp + o, fp + sum(ours.values()) - o, fn + sum(theirs.values()) - o, n + 1
            score = f1(ours, theirs)[0] if theirs or ours else 1.0
            if score < 0.995:
                below.append((suite, os.path.relpath(f, root), "PPTX F1 %.3f" % score, err or ""))
        if n:
            rows.append((suite, "PPTX text F1 vs python-pptx (%d files)" % n, 2 * tp / max(2 * tp + fp + fn, 1), 0.995, ""))
            everything["pptx"] = [a + b for a, b in zip(everything["pptx"], (tp, fp, fn, n))]
    scores = everything["pdf"]
    if scores:
        rows.append(("all", "PDF word F1 vs pdftotext (mean of %d)" % len(scores), sum(scores) / len(scores), 0.985,
                     "%d below 0.9" % sum(s < 0.9 for s in scores)))
    hit, total, n, heads_ok, heads_n = everything["docx"]
    if n:
        rows.append(("all", "DOCX word recall vs pandoc --columns=100000 (%d files)" % n, hit / max(total, 1), 0.995,
                     "headings %d of %d" % (heads_ok, heads_n)))
    tp, fp, fn, n = everything["pptx"]
    if n:
        rows.append(("all", "PPTX text F1 vs python-pptx (%d files)" % n, 2 * tp / max(2 * tp + fp + fn, 1), 0.995, ""))
    print("| suite | figure | value | target | met | note |\n| --- | --- | --- | --- | --- | --- |")
    for suite, what, value, target, note in rows:
        met = "—" if target is None else "yes" if value >= target else "no"
        print("| %s | %s | **%.4f** | %s | %s | %s |" % (suite, what, value, "—" if target is None else "≥ %s" % target, met, note))
    print("\nFiles below target (%d):\n" % len(below))
    for suite, path, what, err in below[:200]:
        print("- %s `%s`: %s%s" % (suite, path, what, (" — " + err) if err else ""))


if __name__ == "__main__":
    main(*sys.argv[1:4])
