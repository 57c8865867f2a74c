import Foundation

/// Extractive summaries by graph ranking (LexRank: sentences are nodes, TF-IDF cosines above
/// a threshold are edges, PageRank finds the central ones), with a position prior that
/// favours the lead: strongly for short, unstructured, news-like text, where the first
/// sentences are the summary, mildly elsewhere. Sentences are chosen whole, complete ones
/// only, in the document's order, without near-repeats.
enum Summarizer {
    /// A score per sentence of `analysis` (higher: more central).
    static func rank(_ analysis: Analysis, within range: Range<Int>? = nil) -> [Double] {
        let all = analysis.sentences
        let indices = Array(range ?? 0..<all.count)
        let n = indices.count
        guard n > 0 else { return [] }
        let vectors = indices.map { analysis.vector(all[$0].terms).normalized() }
        // Edges through an inverted index: only sentences that share a term are compared.
        // Each posting carries the sentence's weight of the term.
        var postings = [[(sentence: Int, weight: Double)]](repeating: [], count: analysis.stems.count)
        for (i, v) in vectors.enumerated() {
            for (k, term) in v.ids.enumerated() { postings[term].append((i, v.weights[k])) }
        }
        var edges = [[(Int, Double)]](repeating: [], count: n)
        var dots = [Double](repeating: 0, count: n)
        var touched: [Int] = []
        var isTouched = [Bool](repeating: false, count: n)
        // Each list is in sentence order and names sentence i, so the sentences after i in
        // the list of one of i's terms start after i's own entry, which `after` keeps.
        var after = [Int](repeating: 0, count: postings.count)
        for i in 0..<n {
            for (k, term) in vectors[i].ids.enumerated() {
                while after[term] < postings[term].count, postings[term][after[term]].sentence <= i { after[term] += 1 }
                let list = postings[term]
                guard list.count < max(50, n / 2) || n < 100 else { continue }
                let w = vectors[i].weights[k]
                for (j, other) in list[after[term]...] {
                    if !isTouched[j] {
                        isTouched[j] = true
                        touched.append(j)
                    }
                    dots[j] += w * other
                }
            }
            for j in touched {
                let d = dots[j]
                if d > 0.1 {
                    edges[i].append((j, d))
                    edges[j].append((i, d))
                }
                dots[j] = 0
                isTouched[j] = false
            }
            touched.removeAll(keepingCapacity: true)
        }
        let prior = positionPrior(analysis, indices: indices)
        var score = prior
        // News-like text leans on its lead: the prior weighs as much as the graph.
        let damping = isNewsLike(analysis) ? 0.5 : 0.85
        let outWeight = edges.map { $0.reduce(0) { $0 + $1.1 } }
        // The edges in one array each (sentence i's from firstEdge[i]), in the same order.
        var firstEdge = [0], targets: [Int] = [], weights: [Double] = []
        for list in edges {
            for (j, w) in list {
                targets.append(j)
                weights.append(w)
            }
            firstEdge.append(targets.count)
        }
        for _ in 0..<40 {
            var next = prior.map { $0 * (1 - damping) }
            var dangling = 0.0
            for i in 0..<n {
                if outWeight[i] == 0 { dangling += score[i]; continue }
                for e in firstEdge[i]..<firstEdge[i + 1] { next[targets[e]] += damping * score[i] * weights[e] / outWeight[i] }
            }
            for i in 0..<n { next[i] += damping * dangling * prior[i] }
            score = next
        }
        // Sentences unfit to be quoted whole (fragments, list items, table rows) and very
        // long ones lose against complete ones.
        for (k, i) in indices.enumerated() {
            let s = all[i]
            if !s.isComplete { score[k] *= 0.2 }
            if s.tokens.count > 60 { score[k] *= 0.5 }
            if s.tokens.count < 6 { score[k] *= 0.5 }
        }
        return score
    }

    /// The personalisation vector of the ranking: each sentence's weight by its position.
    static func positionPrior(_ analysis: Analysis, indices: [Int]) -> [Double] {
        let n = indices.count
        let newsLike = isNewsLike(analysis)
        var weights = (0..<n).map { k -> Double in
            newsLike ? 1 / Double(k + 1) + 0.1 : 1 / (1 + Double(k) / Double(max(5, n / 8)))
        }
        let total = weights.reduce(0, +)
        for k in 0..<n { weights[k] /= total }
        return weights
    }

    /// Short, unstructured prose (an article, a notice): its first sentences carry it.
    static func isNewsLike(_ analysis: Analysis) -> Bool {
        analysis.document.sections.isEmpty && analysis.sentences.count <= 60 && analysis.document.kind != .transcript
    }

    /// The sentences of a summary: the best-ranked complete ones, until `words` words (the
    /// first always, so a summary is never empty while there is a sentence) or `sentences`
    /// sentences when that is given; returned in the document's order.
    static func select(_ analysis: Analysis, scores: [Double], within range: Range<Int>? = nil,
                       words: Int, sentences limit: Int? = nil) -> [Int] {
        let indices = Array(range ?? 0..<analysis.sentences.count)
        let order = indices.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        var chosen: [Int] = []
        var chosenVectors: [TermVector] = []
        var used = 0
        for k in order {
            let sentence = analysis.sentences[indices[k]]
            if let limit, chosen.count >= limit { break }
            if limit == nil, !chosen.isEmpty, used + sentence.tokens.count > words { continue }
            if !chosen.isEmpty && !sentence.isComplete { continue }
            let v = analysis.vector(sentence.terms)
            if chosenVectors.contains(where: { cosine($0, v) > 0.6 }) { continue }
            chosen.append(indices[k])
            chosenVectors.append(v)
            used += sentence.tokens.count
            if limit == nil, used >= words { break }
        }
        return chosen.sorted()
    }
}
