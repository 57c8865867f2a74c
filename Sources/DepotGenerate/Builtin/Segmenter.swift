import Foundation

/// Topic segmentation of flat text by lexical cohesion (TextTiling's kind, Hearst 1997): at
/// every paragraph break, the similarity of the words in a window before it and a window
/// after it; breaks where that similarity dips deepest (depth against the peaks on either
/// side, smoothed) start new segments. Windows count words, not sentences, so a transcript's
/// short cues and a book's long paragraphs weigh alike.
enum Segmenter {
    /// Paragraph indices at which a new segment starts (the first segment starts at the
    /// first paragraph, which is not listed), in order.
    /// - Parameters:
    ///   - window: content words on each side of a break.
    ///   - minimumWords: no segment shorter than this.
    static func boundaries(_ analysis: Analysis, window: Int = 120, minimumWords: Int = 200) -> [Int] {
        let sentences = analysis.sentences
        guard sentences.count > 4 else { return [] }
        // Term stream with the sentence each term is in.
        var stream: [Int] = []
        var sentenceStart: [Int] = []  // position in stream where sentence i starts
        for s in sentences {
            sentenceStart.append(stream.count)
            stream += s.terms
        }
        guard stream.count >= 2 * minimumWords else { return [] }
        // Candidate gaps: where a paragraph starts (its first sentence), not the first.
        var gaps: [(paragraph: Int, position: Int)] = []
        for (p, range) in analysis.sentencesOfParagraph.enumerated() where !range.isEmpty && range.lowerBound > 0 {
            gaps.append((p, sentenceStart[range.lowerBound]))
        }
        guard gaps.count >= 2 else { return [] }
        let idf = analysis.idf
        // A window's vector: each occurrence of a term adds its idf (in the stream's order).
        var sums = [Double](repeating: 0, count: analysis.stems.count)
        func block(_ from: Int, _ to: Int) -> TermVector {
            let window = stream[max(0, from)..<min(stream.count, to)]
            var v = TermVector()
            v.ids = Array(Set(window)).sorted()
            for t in window { sums[t] += idf[t] }
            v.weights = v.ids.map { sums[$0] }
            for t in v.ids { sums[t] = 0 }
            return v
        }
        var scores = gaps.map { gap in cosine(block(gap.position - window, gap.position), block(gap.position, gap.position + window)) }
        // Smoothing over neighbouring gaps (gaps are uneven in words; a light average).
        if scores.count >= 3 {
            var smoothed = scores
            for i in 1..<(scores.count - 1) { smoothed[i] = (scores[i - 1] + 2 * scores[i] + scores[i + 1]) / 4 }
            scores = smoothed
        }
        // Depth: how far the score falls from the highest points reached climbing each way.
        var depth = [Double](repeating: 0, count: scores.count)
        for i in scores.indices {
            var left = scores[i], j = i
            while j > 0, scores[j - 1] >= left { left = scores[j - 1]; j -= 1 }
            var right = scores[i]; j = i
            while j < scores.count - 1, scores[j + 1] >= right { right = scores[j + 1]; j += 1 }
            depth[i] = (left - scores[i]) + (right - scores[i])
        }
        let mean = depth.reduce(0, +) / Double(depth.count)
        let sd = (depth.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(depth.count)).squareRoot()
        let cutoff = mean + 0.5 * sd
        var chosen: [Int] = []  // indices into gaps
        for i in depth.indices.sorted(by: { depth[$0] != depth[$1] ? depth[$0] > depth[$1] : $0 < $1 }) where depth[i] > cutoff && depth[i] > 0 {
            let position = gaps[i].position
            guard position >= minimumWords, stream.count - position >= minimumWords else { continue }
            if chosen.contains(where: { abs(gaps[$0].position - position) < minimumWords }) { continue }
            chosen.append(i)
        }
        return chosen.map { gaps[$0].paragraph }.sorted()
    }
}
