import DepotCore
@testable import DepotProcess
import DepotTestSupport
import Foundation
import Testing

@Suite struct TextProcessorTests {
    let dir = TemporaryDirectory()

    /// Runs the text processor on `bytes`; returns text.txt and the parsed structure.json.
    func process(_ bytes: [UInt8], mediaType: String, chunkBytes: Int = 1 << 20) throws
        -> (text: String, structure: [String: Any], metadata: [String: Any], artifacts: [ProducedArtifact], folder: String) {
        let input = try dir.write("input-\(UUID().uuidString)", bytes)
        let output = dir.path + "/out-\(UUID().uuidString)"
        try makeDirectories(output)
        let artifacts = try TextProcessor(chunkBytes: chunkBytes)
            .process(ProcessorInput(path: input, mediaType: mediaType, name: "x", outputDirectory: output))
        let text = try String(contentsOfFile: output + "/text.txt", encoding: .utf8)
        func json(_ name: String) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + "/" + name))) as! [String: Any]
        }
        return (text, try json("structure.json"), try json("metadata.json"), artifacts, output)
    }

    /// `text` converted by iconv(1) to `encoding` (the tool a user would have made it with).
    func iconv(_ text: String, to encoding: String) throws -> [UInt8] {
        let converted = try python("""
            import subprocess, sys
            out = subprocess.run(["iconv", "-f", "UTF-8", "-t", sys.argv[1]], input=sys.argv[2].encode(), capture_output=True, check=True).stdout
            print(out.hex())
            """, [encoding, text])
        let hex = Array(converted.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        return stride(from: 0, to: hex.count, by: 2).map { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }

    func headings(_ structure: [String: Any]) -> [[String: AnyHashable]] {
        (structure["headings"] as? [[String: Any]] ?? []).map { h in
            ["level": h["level"] as! Int, "title": h["title"] as! String, "line": h["line"] as! Int]
        }
    }

    @Test func markdownHeadingsAtxSetextAndNotInsideFences() throws {
        let markdown = """
            # Physics notes #
            Intro text.

            Week one
            ========

            ```swift
            # not a heading
            Also not
            ---
            ```

            ## Forces and C#
            ~~~~
            ### inside a tilde fence
            ~~~~
            Momentum
            --------
                # indented code, not a heading
            - list item
            ---
            ####### seven hashes is text
            #hashtag is text
            ###### Six

            """
        let result = try process(Array(markdown.utf8), mediaType: "text/markdown")
        #expect(headings(result.structure) == [
            ["level": 1, "title": "Physics notes", "line": 1],
            ["level": 1, "title": "Week one", "line": 4],
            ["level": 2, "title": "Forces and C#", "line": 13],
            ["level": 2, "title": "Momentum", "line": 17],
            ["level": 6, "title": "Six", "line": 24],
        ])
        #expect(result.text == markdown)
        #expect(result.structure["line_count"] as? Int == 24)
        #expect(result.artifacts.map(\.kind) == ["text.txt", "structure.json", "metadata.json"])
        #expect(result.artifacts.allSatisfy { $0.producer == "depot-text" && $0.producerVersion == "2" })
    }

    @Test func textIsNormalisedToUTF8WithLFLineEnds() throws {
        let crlf = try process([0xEF, 0xBB, 0xBF] + Array("one\r\ntwo\rthree\r\n".utf8), mediaType: "text/plain")
        #expect(crlf.text == "one\ntwo\nthree\n")
        #expect(headings(crlf.structure).isEmpty)
        let latin1 = try process(Array("caf".utf8) + [0xE9, 0x0A], mediaType: "text/plain")
        #expect(latin1.text == "café\n")
        #expect(latin1.metadata["encoding"] as? String == "iso-8859-1")
        #expect(crlf.metadata["encoding"] as? String == "utf-8" && crlf.metadata["byte_order_mark"] as? Bool == true)
        let utf16 = try process([0xFF, 0xFE] + Array("hi\r\n".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, mediaType: "text/plain")
        #expect(utf16.text == "hi\n")
        #expect(utf16.structure["line_count"] as? Int == 1)
    }

    /// UTF-32 marks are checked before UTF-16's: FF FE 00 00 once came out as UTF-16 LE full of NULs.
    @Test func utf32WithByteOrderMarksIsDecoded() throws {
        let text = "Grüße, 世界 🌍\nzweite Zeile\n"
        for (name, label) in [("UTF-32LE", "utf-32le"), ("UTF-32BE", "utf-32be")] {
            let bytes = try iconv("\u{FEFF}" + text, to: name)
            #expect(TextEncoding.byteOrderMark(bytes)?.encoding.rawValue == label)
            let result = try process(bytes, mediaType: "text/plain")
            #expect(result.text == text, "\(name)")
            #expect(!result.text.unicodeScalars.contains("\u{0}"))
            #expect(result.metadata["encoding"] as? String == label && result.metadata["byte_order_mark"] as? Bool == true)
            #expect(result.structure["line_count"] as? Int == 2)
            #expect(TypeDetector.detect(MemoryBytes(bytes), name: "notes.txt") == "text/plain")
        }
    }

    @Test func utf16WithoutAByteOrderMarkIsRecognisedAndDecoded() throws {
        let markdown = "# Überblick\r\n\r\nText mit Umlauten: äöü, and “quotes”.\r\n## Zwei\r\n"
        for (name, label) in [("UTF-16LE", "utf-16le"), ("UTF-16BE", "utf-16be")] {
            let bytes = try iconv(markdown, to: name)
            #expect(TextEncoding.byteOrderMark(bytes) == nil)
            #expect(TypeDetector.detect(MemoryBytes(bytes), name: "notes") == "text/markdown", "\(name)")
            let result = try process(bytes, mediaType: "text/markdown")
            #expect(result.text == "# Überblick\n\nText mit Umlauten: äöü, and “quotes”.\n## Zwei\n")
            #expect(result.metadata["encoding"] as? String == label && result.metadata["byte_order_mark"] as? Bool == false)
            #expect(headings(result.structure) == [["level": 1, "title": "Überblick", "line": 1], ["level": 2, "title": "Zwei", "line": 4]])
        }
        // Zero high bytes but control characters (binary records of small numbers) is not text.
        let binary: [UInt8] = (0..<512).flatMap { [UInt8(1 + $0 % 7), 0] }
        #expect(TextEncoding.unmarkedUTF16(binary) == nil)
        #expect(TypeDetector.detect(MemoryBytes(binary), name: "x.txt") == TypeDetector.octetStream)
    }

    @Test func legacyEightBitTextNamesWindows1252OrLatin1() throws {
        let windows = try iconv("“Smart quotes” cost 5 € – naïve\n", to: "WINDOWS-1252")
        let result = try process(windows, mediaType: "text/plain")
        #expect(result.text == "“Smart quotes” cost 5 € – naïve\n")
        #expect(result.metadata["encoding"] as? String == "windows-1252")
        let latin1 = try process(try iconv("Ça coûte 5 £, señor\n", to: "ISO-8859-1"), mediaType: "text/plain")
        #expect(latin1.text == "Ça coûte 5 £, señor\n")
        #expect(latin1.metadata["encoding"] as? String == "iso-8859-1")
        // The whole file decides: UTF-8 for its first 64 KiB, then one Latin-1 byte.
        let late = Array(String(repeating: "ü ascii line\n", count: 6_000).utf8) + Array("caf".utf8) + [0xE9, 0x0A]
        let lateResult = try process(late, mediaType: "text/plain")
        #expect(lateResult.metadata["encoding"] as? String == "iso-8859-1")
        #expect(lateResult.text.hasSuffix("café\n") && lateResult.text.hasPrefix("Ã¼ ascii line\n"))
    }

    /// Every chunk size cuts some sequence (a 4-byte UTF-8 character, a surrogate pair, a CRLF)
    /// at a chunk's end; the output never changes.
    @Test func chunkBoundariesNeverChangeTheOutput() throws {
        let markdown = "Titel 🌍 ä\r\n=====\r\n\r\nfirst\rsecond\r\n```\r\n# no\r\n```\r\n## 世界 ##\r\nend"
        let expected = "Titel 🌍 ä\n=====\n\nfirst\nsecond\n```\n# no\n```\n## 世界 ##\nend"
        for encoding in ["UTF-8", "UTF-16LE", "UTF-32BE"] {
            let bytes = (encoding == "UTF-8" ? [] : try iconv("\u{FEFF}", to: encoding)) + (try iconv(markdown, to: encoding))
            for chunk in [1, 2, 3, 5, 7, 64] {
                let result = try process(bytes, mediaType: "text/markdown", chunkBytes: chunk)
                #expect(result.text == expected, "\(encoding), chunks of \(chunk)")
                #expect(result.structure["line_count"] as? Int == 10)
                #expect(headings(result.structure) == [["level": 1, "title": "Titel 🌍 ä", "line": 1], ["level": 2, "title": "世界", "line": 9]],
                        "\(encoding), chunks of \(chunk)")
            }
        }
    }

    @Test func anEmptyFileIsEmptyWhateverItsName() throws {
        for name in ["song.mp3", "clip.webm", "notes.txt", "report.pdf", ""] {
            #expect(TypeDetector.detect(MemoryBytes([]), name: name) == TypeDetector.empty)
            #expect(ProcessorRegistry.standard().select(kind: ProcessorKind.extract, mediaType: TypeDetector.empty) == nil)
        }
        // One byte is not empty.
        #expect(TypeDetector.detect(MemoryBytes([0x0A]), name: "a.mp3") == "text/plain")
    }
}

/// The text processor's memory does not grow with the file: `depot extract` on a 96 MB
/// Markdown file peaks less than 32 MiB above the same run on a one-line file (it once read
/// the whole file, decoded it into a String and split that into lines: several times the file).
@Suite(.tags(.slow), .slowTest) struct TextMemoryTests {
    @Test func aLargeMarkdownFileIsReadInBoundedMemory() throws {
        let dir = TemporaryDirectory()
        let output = try python("""
            import os, subprocess, sys
            def peak(path, out):
                run = subprocess.run(["/usr/bin/time", "-f", "%M", sys.argv[1], "extract", path, "--out", out],
                                     check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                return int(run.stderr.strip().splitlines()[-1]) * 1024
            small = os.path.join(sys.argv[2], "small.md")
            with open(small, "w") as f:
                f.write("# One\\n")
            path = os.path.join(sys.argv[2], "big.md")
            with open(path, "w") as f:
                block = "".join("## Section %d\\n\\nSome text of the section, über and Ärger.\\r\\n" % i for i in range(1000))
                written = 0
                while written < 96 << 20:
                    f.write(block)
                    written += len(block.encode())
            base = peak(small, os.path.join(sys.argv[2], "small-out"))
            out = os.path.join(sys.argv[2], "out")
            print(peak(path, out) - base, os.path.getsize(path), os.path.getsize(os.path.join(out, "text.txt")))
            """, [depotBinary, dir.path])
        let figures = output.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        try #require(figures.count == 3)
        let (growth, size, textSize) = (figures[0], figures[1], figures[2])
        #expect(size >= 96 << 20)
        #expect(textSize < size && textSize > size - size / 20, "CRLF became LF, nothing else was lost")
        #expect(growth < 32 << 20, "peak RSS \(growth >> 20) MiB above a one-line file's for a \(size >> 20) MiB file")
    }
}
