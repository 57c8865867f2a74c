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
        try head.withUnsafeBytes { try partials.openForWriting(id: "up_a", at: 0).write($0) }
        let pieces: [[UInt8]] = (0..<1500).map { n in n % 7 == 0 ? [] : (0..<(n % 97)).map { UInt8(truncatingIfNeeded: $0 &+ n) } }
        let writer = try partials.openForWriting(id: "up_a", at: Int64(head.count))
        let joined = pieces.flatMap { $0 }
        try withPointers(pieces[...], []) { try writer.write($0) }
        #expect(writer.offset == Int64(head.count + joined.count))
        try writer.sync()
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: partials.path(of: "up_a"))))
        #expect(bytes == head + joined)
    }

    private func withPointers(_ rest: ArraySlice<[UInt8]>, _ outer: [UnsafeRawBufferPointer],
                              _ body: ([UnsafeRawBufferPointer]) throws -> Void) throws {
        guard let first = rest.first else { return try body(outer) }
        try first.withUnsafeBytes { try withPointers(rest.dropFirst(), outer + [$0], body) }
    }
}
