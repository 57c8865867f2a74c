import DepotCore
@testable import DepotStore
import DepotTestSupport
import Foundation
import Testing

@Suite struct PartialUploadsTests {
    /// A request's body comes as many buffers (some empty; more than IOV_MAX) written by gathered writes:
    /// the file holds them in order after what was there, and the offset moves by their sum.
    @Test func gatheredPiecesLandInOrderAfterTheRecordedOffset() throws {
        let dir = TemporaryDirectory()
        let partials = try PartialUploads(folder: dir.path + "/uploads")
        try partials.create(id: "up_a")
        let head: [UInt8] = Array("head-".utf8)
        try head.withUnsafeBytes { try partials.openForWriting(id: "up_a", at: 0).write([$0]) }
        let pieces: [[UInt8]] = (0..<1500).map { n in n % 7 == 0 ? [] : (0..<(n % 97)).map { UInt8(truncatingIfNeeded: $0 &+ n) } }
        let writer = try partials.openForWriting(id: "up_a", at: Int64(head.count))
        let joined = pieces.flatMap { $0 }
        try withPointers(pieces[...], []) { try writer.write($0) }
        #expect(writer.offset == Int64(head.count + joined.count))
        try writer.sync()
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: partials.path(of: "up_a"))))
        #expect(bytes == head + joined)
    }

    /// Requests that each end at an odd offset, each adding more than a block (written past the
    /// page cache where the filesystem allows) and a rest (through it): the file holds every
    /// byte in order, the page each request began inside kept as it was. A request cut back
    /// (a checksum that did not match) loses its bytes and only those.
    @Test func blocksAndRestsFromOddOffsetsLandInOrder() throws {
        let dir = TemporaryDirectory()
        let partials = try PartialUploads(folder: dir.path + "/uploads")
        try partials.create(id: "up_b")
        var expected: [UInt8] = []
        var seed: UInt64 = 0x9E3779B97F4A7C15
        func bytes(_ count: Int) -> [UInt8] {
            (0..<count).map { _ in
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                return UInt8(truncatingIfNeeded: seed >> 56)
            }
        }
        for (index, size) in [1_000_003, 2_500_001, 4093, 1 << 20, 1_234_567].enumerated() {
            let writer = try partials.openForWriting(id: "up_b", at: Int64(expected.count))
            let chunk = bytes(size)
            // In buffers of odd sizes, as a body arrives; the full blocks written as they fill.
            var at = 0
            while at < chunk.count {
                let n = min(chunk.count - at, 65_521 + index)
                let blocks = chunk[at..<(at + n)].withUnsafeBytes { writer.append($0) }
                for block in blocks { try writer.write(block) }
                at += n
            }
            #expect(writer.offset == Int64(expected.count + size))
            if index == 3 {
                try writer.truncate(to: Int64(expected.count))
                try writer.sync()
                continue
            }
            try writer.sync()
            #expect(writer.writtenEnd == writer.offset)
            expected += chunk
        }
        let file = try [UInt8](Data(contentsOf: URL(fileURLWithPath: partials.path(of: "up_b"))))
        #expect(file.count == expected.count)
        #expect(file == expected)
    }

    private func withPointers(_ rest: ArraySlice<[UInt8]>, _ outer: [UnsafeRawBufferPointer],
                              _ body: ([UnsafeRawBufferPointer]) throws -> Void) throws {
        guard let first = rest.first else { return try body(outer) }
        try first.withUnsafeBytes { try withPointers(rest.dropFirst(), outer + [$0], body) }
    }
}
