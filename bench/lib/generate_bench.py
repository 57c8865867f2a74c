#!/usr/bin/env python3
"""bench/generate.sh's work: quality of depot's builtin generation engine against the PyPI
peers on real texts, and its throughput against the document processors, in one run.

Texts: the reStructuredText sources of Python's documentation as Debian ships them
(python3.11-doc: /usr/share/doc/python3.11/html/_sources), turned into plain paragraphs here.
- segmentation: documents made of sections of different library pages, headings removed;
  Pk (word level, k = half the mean reference segment) of depot vs NLTK's TextTiling.
- summary: library pages whose introduction (the text before the first section) is the
  reference; systems get the rest of the page; ROUGE-1/2/L F1 (rouge-score, Porter stems)
  of depot vs sumy's LexRank and TextRank, all asked for as many sentences as the reference has.
- keywords: recall of the pages' section-heading terms (Porter stems, stop words out) in the
  top 15 keywords of depot vs YAKE, the headings removed from the text.
- throughput: 100 PDFs of 5-50 pages made with fpdf2 from those texts; pages/s of
  `depot generate --from` (generate only) vs `depot extract --kind extract`, one process per
  file for both; peak RSS of each.
NLTK's downloadable data (punkt, stopwords) cannot be fetched here: TextTiling gets sumy's
bundled English stop list, sumy gets a regex sentence splitter and its own stop list; the
Porter and Snowball stemmers need no data.
"""
import json, os, random, re, resource, statistics, subprocess, sys, tempfile, time

SOURCES = "/usr/share/doc/python3.11/html/_sources"
DEPOT = os.environ.get("DEPOT", ".build/debug/depot")
WORK = tempfile.mkdtemp(prefix="depot-genbench-")
KEEP_DIRECTIVES = {"function", "method", "class", "attribute", "data", "exception", "note", "warning", "seealso",
                   "describe", "option", "envvar", "decorator", "coroutinefunction", "classmethod", "staticmethod",
                   "abstractmethod", "important", "tip", "impl-detail"}
UNDER = set("=-~^\"'*+#`:.")


def inline(text):
    text = re.sub(r":[a-z:+-]+:`~?([^`<]*?)\s*(<[^>]*>)?`", lambda m: m.group(1).split(".")[-1] if m.group(0).count("~") else m.group(1), text)
    text = re.sub(r"``([^`]*)``", r"\1", text)
    text = re.sub(r"`([^`<]*?)\s*<[^>]*>`_+", r"\1", text)
    text = re.sub(r"`([^`]*)`_*", r"\1", text)
    text = re.sub(r"\[#?[\w-]*\]_", "", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\1", text)
    text = re.sub(r"\*([^*\s][^*]*)\*", r"\1", text)
    text = re.sub(r"\|([\w-]+)\|", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def parse_rst(path):
    """[(level, title, [paragraph, ...])]: level 0 is the page's title (and text before any heading)."""
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    levels, sections = [], [[0, "", []]]
    i, para, skip_indent, code_next = 0, [], None, False

    def flush():
        nonlocal para
        text = inline(" ".join(para))
        if len(text.split()) >= 5 and re.search(r"[a-z]", text):
            sections[-1][2].append(text)
        para = []

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if skip_indent is not None:
            if stripped == "" or indent > skip_indent:
                i += 1
                continue
            skip_indent = None
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if stripped and nxt.strip() and set(nxt.strip()) <= UNDER and len(set(nxt.strip())) == 1 and len(nxt.strip()) >= max(3, len(stripped) - 2) \
                and indent == 0 and not set(stripped) <= UNDER:
            flush()
            ch = nxt.strip()[0]
            if ch not in levels:
                levels.append(ch)
            sections.append([levels.index(ch), inline(stripped), []])
            i += 2
            continue
        if stripped and set(stripped) <= UNDER and len(stripped) >= 4:  # transitions, overlines, table rules
            flush(); i += 1; continue
        if stripped.startswith(".. "):
            flush()
            m = re.match(r"\.\. ([\w:-]+)::", stripped)
            name = m.group(1).split(":")[-1] if m else ""
            if name not in KEEP_DIRECTIVES:
                skip_indent = indent
            i += 1
            while i < len(lines) and re.match(r"\s+:[\w-]+:", lines[i]):  # directive options
                i += 1
            continue
        if stripped.startswith(">>>") or stripped.startswith("|") or stripped.startswith("+-"):
            # A doctest block or a table: skipped to the next blank line.
            flush()
            while i < len(lines) and lines[i].strip():
                i += 1
            continue
        if stripped == "":
            flush()
            if code_next:
                # The literal block after "::": skipped to the next line indented no deeper than its paragraph.
                j = i + 1
                while j < len(lines) and (lines[j].strip() == "" or len(lines[j]) - len(lines[j].lstrip()) > code_indent):
                    j += 1
                i, code_next = j, False
                continue
            i += 1
            continue
        if re.match(r"^[*\-+] |^#\. |^\d+\. ", stripped):
            flush()
            stripped = re.sub(r"^([*\-+]|#\.|\d+\.) ", "", stripped)
        if stripped.endswith("::"):
            code_next, code_indent = True, indent
            stripped = stripped[:-2].rstrip() + (":" if not stripped[:-2].rstrip().endswith(":") else "")
            if stripped == ":":
                stripped = ""
        para.append(stripped)
        i += 1
    flush()
    return [s for s in sections if s[2] or s[1]]


def pages(directory):
    out = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".rst.txt"):
            out.append((name, parse_rst(os.path.join(directory, name))))
    return out


def words(text):
    return text.split()


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def depot_generate(text, *params):
    folder = tempfile.mkdtemp(dir=WORK)
    with open(folder + "/text.txt", "w") as f:
        f.write(text)
    out = folder + "/out"
    run([DEPOT, "generate", "--from", folder, "--out", out, "--questions", "0", *params])
    return out


# ---------- segmentation ----------

def pk(ref, hyp, n):
    """ref, hyp: sorted word positions where segments start (0 excluded); n words."""
    segs = len(ref) + 1
    k = max(2, round(n / (2 * segs)))
    def seg_ids(bounds):
        ids, s, b = [], 0, set(bounds)
        for i in range(n):
            if i in b: s += 1
            ids.append(s)
        return ids
    r, h = seg_ids(ref), seg_ids(hyp)
    errors = sum((r[i] == r[i + k]) != (h[i] == h[i + k]) for i in range(n - k))
    return errors / max(1, n - k)


def segmentation(all_pages, stop):
    from nltk.tokenize.texttiling import TextTilingTokenizer
    pool = []
    for name, sections in all_pages:
        if not name.startswith("library/"):
            continue
        for level, title, paras in sections:
            if level >= 1 and len(paras) >= 3 and 150 <= sum(len(words(p)) for p in paras) <= 1500:
                pool.append((name, paras))
    rng = random.Random(13)
    tiler = TextTilingTokenizer(stopwords=stop)
    docs, depot_pk, nltk_pk = 0, [], []
    while docs < 60:
        chosen, names = [], set()
        while len(chosen) < rng.randint(4, 6):
            name, paras = rng.choice(pool)
            if name not in names:
                names.add(name); chosen.append(paras)
        paragraphs, ref_paras = [], []
        for paras in chosen:
            if paragraphs: ref_paras.append(len(paragraphs))
            paragraphs += paras
        starts, pos = [], 0
        for p in paragraphs:
            starts.append(pos); pos += len(words(p))
        n = pos
        ref = [starts[i] for i in ref_paras]
        text = "\n\n".join(paragraphs) + "\n"
        # depot: chapters.json's anchors are lines of text.txt; paragraph i is line 2i+1.
        out = depot_generate(text, "--param", "keywords=5")
        chapters = json.load(open(out + "/chapters.json"))
        assert chapters["source"] == "segmentation", chapters["source"]
        hyp_d = sorted(starts[(c["anchor"]["line"] - 1) // 2] for c in chapters["chapters"][1:])
        # NLTK: its segments keep the paragraph breaks, so each starts at a known paragraph.
        try:
            segments = tiler.tokenize(text)
        except ValueError:
            segments = [text]
        hyp_n, para = [], 0
        for seg in segments[:-1]:
            para += len([b for b in re.split(r"\n\s*\n", seg.strip()) if b.strip()])
            if para < len(paragraphs): hyp_n.append(starts[para])
        depot_pk.append(pk(ref, hyp_d, n)); nltk_pk.append(pk(ref, sorted(set(hyp_n)), n))
        docs += 1
    return {"documents": docs, "depot_pk": statistics.mean(depot_pk), "nltk_texttiling_pk": statistics.mean(nltk_pk)}


# ---------- summaries ----------

SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")

class RegexTokenizer:
    language = "english"
    def to_sentences(self, paragraph):
        return [s for s in SENT.split(paragraph) if s.strip()]
    def to_words(self, sentence):
        return re.findall(r"\w+(?:'\w+)?", sentence)


def summary_docs(all_pages):
    docs = []
    for name, sections in all_pages:
        if not name.startswith("library/") or len(sections) < 2 or sections[0][0] != 0:
            continue
        intro = [p for p in sections[0][2] if not p.startswith("Source code")]
        body = [p for s in sections[1:] for p in s[2]]
        iw, bw = sum(len(words(p)) for p in intro), sum(len(words(p)) for p in body)
        if 30 <= iw <= 200 and bw >= 400:
            docs.append((name, " ".join(intro), body))
    return docs


def summaries(docs):
    from rouge_score import rouge_scorer
    from sumy.parsers.plaintext import PlaintextParser
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.summarizers.text_rank import TextRankSummarizer
    from sumy.nlp.stemmers import Stemmer
    from sumy.utils import get_stop_words
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    stemmer, stop = Stemmer("english"), get_stop_words("english")
    systems = {"depot": [], "lexrank": [], "textrank": []}
    for name, reference, body in docs:
        n = max(1, min(4, len(RegexTokenizer().to_sentences(reference))))
        text = "\n\n".join(body) + "\n"
        out = depot_generate(text, "--summary-sentences", str(n))
        depot_summary = " ".join(s["text"] for s in json.load(open(out + "/summary.json"))["short"]["sentences"])
        parser = PlaintextParser.from_string(text, RegexTokenizer())
        outs = {"depot": depot_summary}
        for key, cls in (("lexrank", LexRankSummarizer), ("textrank", TextRankSummarizer)):
            s = cls(stemmer)
            s.stop_words = stop
            outs[key] = " ".join(str(x) for x in s(parser.document, n))
        for key, summary in outs.items():
            scores = scorer.score(reference, summary)
            systems[key].append([scores[m].fmeasure for m in ("rouge1", "rouge2", "rougeL")])
    return {key: [statistics.mean(v[i] for v in vals) for i in range(3)] for key, vals in systems.items()} | {"documents": len(docs)}


# ---------- keywords ----------

def keywords(all_pages, stop):
    import yake
    from nltk.stem.porter import PorterStemmer
    ps = PorterStemmer()
    def stems(text):
        return {ps.stem(w) for w in re.findall(r"[a-z][a-z0-9]+", text.lower()) if w not in stop and len(w) > 2}
    extractor = yake.KeywordExtractor(lan="en", n=3, top=15)
    recall = {"depot": [], "yake": []}
    docs = 0
    for name, sections in all_pages:
        if not name.startswith("library/"):
            continue
        heads = [t for level, t, paras in sections if level >= 1 and t]
        body = [p for s in sections for p in s[2]]
        if len(heads) < 3 or sum(len(words(p)) for p in body) < 500:
            continue
        ref = stems(" ".join(heads))
        if len(ref) < 3:
            continue
        text = "\n\n".join(body) + "\n"
        out = depot_generate(text, "--param", "keywords=15")
        depot_terms = [k["term"] for k in json.load(open(out + "/keywords.json"))["keywords"]][:15]
        yake_terms = [k for k, _ in extractor.extract_keywords(text)][:15]
        recall["depot"].append(len(ref & stems(" ".join(depot_terms))) / len(ref))
        recall["yake"].append(len(ref & stems(" ".join(yake_terms))) / len(ref))
        docs += 1
        if docs >= 100:
            break
    return {"documents": docs, "depot_recall": statistics.mean(recall["depot"]), "yake_recall": statistics.mean(recall["yake"])}


# ---------- throughput ----------

def timed(cmd):
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - start
    if status != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss * 1024


def throughput(all_pages):
    from fpdf import FPDF
    font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    texts = [p for name, sections in all_pages for s in sections for p in s[2]]
    rng = random.Random(7)
    folder = tempfile.mkdtemp(dir=WORK)
    files, total_pages = [], 0
    cursor = 0
    for i in range(100):
        target = rng.randint(5, 50)
        pdf = FPDF()
        pdf.add_font("DejaVu", "", font)
        pdf.set_font("DejaVu", size=11)
        pdf.add_page()
        while pdf.page_no() < target or pdf.get_y() < 250:
            if pdf.page_no() >= target and pdf.get_y() > 240:
                break
            pdf.multi_cell(0, 5, texts[cursor % len(texts)])
            pdf.ln(2)
            cursor += 1
        path = f"{folder}/doc{i:03}.pdf"
        pdf.output(path)
        files.append((path, pdf.page_no()))
        total_pages += pdf.page_no()
    extract_time = generate_time = 0.0
    extract_rss = generate_rss = 0
    for path, _ in files:
        out = path + ".extract"
        t, rss = timed([DEPOT, "extract", path, "--out", out, "--kind", "extract"])
        extract_time += t; extract_rss = max(extract_rss, rss)
        t, rss = timed([DEPOT, "generate", "--from", out, "--out", path + ".gen"])
        generate_time += t; generate_rss = max(generate_rss, rss)
    return {"documents": len(files), "pages": total_pages, "extract_pages_per_s": total_pages / extract_time,
            "generate_pages_per_s": total_pages / generate_time, "extract_peak_rss_mib": extract_rss / 2**20,
            "generate_peak_rss_mib": generate_rss / 2**20}


def main():
    from sumy.utils import get_stop_words
    stop = set(get_stop_words("english"))
    all_pages = [("library/" + n, s) for n, s in pages(SOURCES + "/library")]
    which = sys.argv[1:] or ["segmentation", "summary", "keywords", "throughput"]
    result = {}
    if "segmentation" in which: result["segmentation"] = segmentation(all_pages, stop)
    if "summary" in which: result["summary"] = summaries(summary_docs(all_pages))
    if "keywords" in which: result["keywords"] = keywords(all_pages, stop)
    if "throughput" in which: result["throughput"] = throughput(all_pages)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
