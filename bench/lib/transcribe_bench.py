#!/usr/bin/env python3
"""transcribe_bench.py — bench/transcribe.sh's text and scoring.

  transcribe_bench.py speech WORDS SEED OUT.ssml OUT.txt
      English prose of about WORDS words from a small grammar and word list of our own
      (seeded, so every run speaks the same), as SSML for `espeak-ng -m` with a pause of
      0.4–1.2 s after every sentence and 1.5 s between paragraphs, and as the plain
      reference text.
  transcribe_bench.py wer REFERENCE HYPOTHESIS
      Word error rate of HYPOTHESIS against REFERENCE (text files), printed as JSON:
      {"wer", "words", "substitutions", "deletions", "insertions"}.
  transcribe_bench.py table ROWS.jsonl
      bench/transcribe.sh's Markdown table from its rows ({seed, side: whole|depot, container,
      seconds, pieces, wer: {…}, cuts: {…}}): each text, then the pooled WERs and the ratio.
  transcribe_bench.py boundaries REFERENCE HYPOTHESIS TRANSCRIPT.vtt CUTS WHOLE
      Where the errors sit: those on the reference words of depot's cue either side of each
      cut (CUTS: comma-separated seconds) vs elsewhere, for depot's HYPOTHESIS and for the
      whole file's transcript WHOLE on the same words.

Words are compared lowercase, with punctuation removed and hyphens as spaces; the WER is
word-level Levenshtein distance (substitutions + deletions + insertions) over the number of
reference words.
"""
import json
import random
import re
import sys

SUBJECTS = ["the farmer", "the teacher", "my brother", "the old sailor", "a young doctor", "the baker",
            "our neighbour", "the little girl", "the captain", "a tired traveller", "the gardener", "her mother",
            "the writer", "a quiet student", "the driver", "his uncle", "the painter", "the king", "the children",
            "the musicians"]
VERBS = ["walked to", "looked at", "talked about", "waited for", "asked about", "thought about", "ran past",
         "cleaned", "painted", "found", "carried", "opened", "closed", "visited", "remembered", "followed",
         "watched", "repaired", "sold", "bought"]
ADJECTIVES = ["small", "green", "heavy", "quiet", "bright", "old", "warm", "cold", "empty", "wooden", "narrow",
              "yellow", "broken", "famous", "gentle", "dark", "clean", "long", "simple", "strange"]
OBJECTS = ["house", "garden", "river", "bridge", "window", "market", "letter", "boat", "mountain", "village",
           "kitchen", "station", "forest", "library", "door", "road", "table", "church", "field", "castle"]
PLACES = ["in the morning", "after dinner", "before the storm", "on a sunny day", "during the winter",
          "at the end of the week", "near the harbour", "in the evening", "after the long journey",
          "before breakfast", "under the clear sky", "on the way home"]
CLAUSES = ["because it was late", "while the rain was falling", "although nobody was there",
           "when the bells started ringing", "until the light went out", "as the wind grew stronger",
           "because the road was closed", "while the others were sleeping"]
FEELINGS = ["happy", "surprised", "worried", "proud", "calm", "curious", "afraid", "grateful"]


def sentence(rng):
    noun = lambda: f"the {rng.choice(ADJECTIVES)} {rng.choice(OBJECTS)}"
    form = rng.randrange(6)
    s = rng.choice(SUBJECTS)
    if form == 0:
        out = f"{s} {rng.choice(VERBS)} {noun()} {rng.choice(PLACES)}"
    elif form == 1:
        out = f"{rng.choice(PLACES)}, {s} {rng.choice(VERBS)} {noun()}"
    elif form == 2:
        out = f"{s} {rng.choice(VERBS)} {noun()} {rng.choice(CLAUSES)}"
    elif form == 3:
        out = f"{s} was {rng.choice(FEELINGS)} when {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {noun()}"
    elif form == 4:
        out = f"{s} {rng.choice(VERBS)} {noun()}, and then {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {noun()}"
    else:
        out = f"nobody knew why {s} {rng.choice(VERBS)} {noun()} {rng.choice(PLACES)}"
    return out[0].upper() + out[1:] + "."


def speech(words, seed, ssml_path, text_path):
    rng = random.Random(seed)
    paragraphs, count = [], 0
    while count < words:
        paragraph = [sentence(rng) for _ in range(rng.randint(3, 6))]
        count += sum(len(s.split()) for s in paragraph)
        paragraphs.append(paragraph)
    with open(text_path, "w") as f:
        f.write("\n\n".join(" ".join(p) for p in paragraphs) + "\n")
    with open(ssml_path, "w") as f:
        f.write("<speak>\n")
        for p in paragraphs:
            for s in p:
                f.write(f'{s} <break time="{rng.randrange(400, 1201, 100)}ms"/>\n')
            f.write('<break time="1500ms"/>\n')
        f.write("</speak>\n")


def words_of(text):
    text = text.lower().replace("-", " ")
    return re.sub(r"[^a-z0-9' ]+", " ", text).replace("'", "").split()


def align(ref, hyp):
    """Levenshtein alignment: a list of (op, ref index or None, hyp index or None), op in
    "=", "s", "d", "i"."""
    n, m = len(ref), len(hyp)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        row, prev, r = d[i], d[i - 1], ref[i - 1]
        for j in range(1, m + 1):
            row[j] = min(prev[j - 1] + (r != hyp[j - 1]), prev[j] + 1, row[j - 1] + 1)
    ops, i, j = [], n, m
    while i or j:
        if i and j and d[i][j] == d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            ops.append(("=" if ref[i - 1] == hyp[j - 1] else "s", i - 1, j - 1)); i -= 1; j -= 1
        elif i and d[i][j] == d[i - 1][j] + 1:
            ops.append(("d", i - 1, None)); i -= 1
        else:
            ops.append(("i", None, j - 1)); j -= 1
    return ops[::-1]


def wer(ref_text, hyp_text):
    ref, hyp = words_of(ref_text), words_of(hyp_text)
    ops = align(ref, hyp)
    counts = {k: sum(1 for o in ops if o[0] == k) for k in "sdi"}
    errors = counts["s"] + counts["d"] + counts["i"]
    return {"wer": round(errors / max(1, len(ref)), 5), "words": len(ref), "hypothesis_words": len(hyp),
            "substitutions": counts["s"], "deletions": counts["d"], "insertions": counts["i"]}


def vtt_cues(path):
    cues, current = [], None
    for line in open(path, encoding="utf-8").read().splitlines():
        m = re.match(r"\s*(\d+):(\d\d):(\d\d\.\d+)\s+-->\s+(\d+):(\d\d):(\d\d\.\d+)", line) or \
            re.match(r"\s*()(\d\d):(\d\d\.\d+)\s+-->\s+()(\d\d):(\d\d\.\d+)", line)
        if m:
            g = [float(x or 0) for x in m.groups()]
            current = [g[0] * 3600 + g[1] * 60 + g[2], g[3] * 3600 + g[4] * 60 + g[5], ""]
            cues.append(current)
        elif current is not None and line.strip():
            current[2] = (current[2] + " " + line.strip()).strip()
        elif not line.strip():
            current = None
    return cues


def error_positions(ops):
    """The reference index each error of an alignment belongs to (an insertion: the word
    before it)."""
    out, last = [], 0
    for op, i, j in ops:
        if i is not None:
            last = i
        if op != "=":
            out.append(last)
    return out


def boundaries(ref_path, hyp_path, vtt_path, starts, whole_path):
    """Errors near the cuts vs elsewhere, for depot and for the whole file on the same words.

    Near a cut: the reference words that depot's two cues either side of each cut (the last
    cue before it, the first after) were aligned to. The whole-file transcript's errors are
    counted on the same reference words, so the two can be compared.
    """
    ref, hyp = words_of(open(ref_path).read()), words_of(open(hyp_path).read())
    cues = vtt_cues(vtt_path)
    # Which cue each hypothesis word came from (transcript.txt is the cues' text in order).
    owner = []
    for k, cue in enumerate(cues):
        owner += [k] * len(words_of(cue[2]))
    if len(owner) != len(hyp):
        return {"note": f"cue words {len(owner)} differ from transcript words {len(hyp)}; not split"}
    near_cues = set()
    for t in starts:
        after = next((k for k, cue in enumerate(cues) if cue[0] >= t - 0.01), len(cues))
        near_cues.update({after - 1, after})
    ops = align(ref, hyp)
    near = set()
    for op, i, j in ops:
        if i is not None and j is not None and owner[j] in near_cues:
            near.add(i)
    # A deleted reference word between two near words is near too.
    near |= {i for i in range(1, len(ref) - 1) if i - 1 in near and i + 1 in near}
    depot = error_positions(ops)
    whole = error_positions(align(ref, words_of(open(whole_path).read())))
    return {"near_words": len(near), "depot_near": sum(i in near for i in depot), "depot_elsewhere": sum(i not in near for i in depot),
            "whole_near": sum(i in near for i in whole), "whole_elsewhere": sum(i not in near for i in whole)}


def table(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    whole = {r["seed"]: r for r in rows if r["side"] == "whole"}
    errors = lambda w: w["substitutions"] + w["deletions"] + w["insertions"]
    sid = lambda w: f"{w['substitutions']}/{w['deletions']}/{w['insertions']}"
    out = ["| text | audio | whole file: WER (S/D/I) | depot: pieces | depot: WER (S/D/I) | ratio | depot's errors near a cut / elsewhere |",
           "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        if r["side"] != "depot":
            continue
        w, d, c = whole[r["seed"]]["wer"], r["wer"], r["cuts"]
        ratio = d["wer"] / w["wer"] if w["wer"] else float("inf")
        at = (f"{c['depot_near']} / {c['depot_elsewhere']} (whole file: {c['whole_near']} / {c['whole_elsewhere']}; "
              f"{c['near_words']} words near)" if "near_words" in c else c.get("note", ""))
        out.append(f"| {r['seed']} ({w['words']} words, {r['seconds']:.0f} s) | {r['container']} | {w['wer']:.4f} ({sid(w)}) "
                   f"| {r['pieces']} | {d['wer']:.4f} ({sid(d)}) | {ratio:.3f} | {at} |")
    we = sum(errors(r["wer"]) for r in whole.values())
    wn = sum(r["wer"]["words"] for r in whole.values())
    for container in dict.fromkeys(r["container"] for r in rows if r["side"] == "depot"):
        mine = [r for r in rows if r["side"] == "depot" and r["container"] == container]
        de = sum(errors(r["wer"]) for r in mine)
        ratio = de / we if we else float("inf")  # the same words, so the WERs' ratio
        out.append(f"| all ({wn} words) | {container} | {we / wn:.4f} ({we} errors) | {sum(r['pieces'] for r in mine)} "
                   f"| {de / wn:.4f} ({de} errors) | **{ratio:.3f}** | target ≤ 1.1: {'met' if ratio <= 1.1 else 'NOT met'} |")
    return "\n".join(out)


if __name__ == "__main__":
    cmd, args = sys.argv[1] if len(sys.argv) > 1 else "", sys.argv[2:]
    if cmd == "speech" and len(args) == 4:
        speech(int(args[0]), int(args[1]), args[2], args[3])
    elif cmd == "wer" and len(args) == 2:
        print(json.dumps(wer(open(args[0]).read(), open(args[1]).read())))
    elif cmd == "table" and len(args) == 1:
        print(table(args[0]))
    elif cmd == "boundaries" and len(args) == 5:
        print(json.dumps(boundaries(args[0], args[1], args[2], [float(x) for x in args[3].split(",") if x], args[4])))
    else:
        sys.exit(__doc__)
