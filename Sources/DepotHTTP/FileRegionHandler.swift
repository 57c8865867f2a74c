import NIOCore
import NIOHTTPTypesHTTP1
import Synchronization

/// Sends download bodies with sendfile(2), as nginx does, instead of copying every byte through
/// a buffer (read into memory, then written to the socket).
///
/// Hummingbird 2's `ResponseBodyWriter` carries only `ByteBuffer`s, while NIO sends a
/// `FileRegion` with sendfile(2). So a download body hands its open file to the connection's
/// `PendingFiles` and writes a 16-byte marker in place of the bytes; this handler, first in the
/// pipeline — below HTTP/1 framing, where a body with a Content-Length passes through as it
/// was written — swaps the marker for the file region it stands for.
///
/// sendfile runs on the event loop: a read that misses the page cache holds that loop for the
/// disk's latency, as it does in nginx without `aio threads`.
final class FileRegionHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let pending = PendingFiles()

    func handlerAdded(context: ChannelHandlerContext) { PendingFiles.register(pending, for: context.channel) }

    func handlerRemoved(context: ChannelHandlerContext) { PendingFiles.unregister(context.channel) }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .byteBuffer(let buffer) = unwrapOutboundIn(data), buffer.readableBytes == PendingFiles.markerSize,
              let entry = pending.take(marker: buffer) else {
            context.write(data, promise: promise)
            return
        }
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: entry.file.releaseDescriptor())
        let region = FileRegion(fileHandle: handle, readerIndex: Int(entry.first), endIndex: Int(entry.last) + 1)
        let sent = context.eventLoop.makePromise(of: Void.self)
        // Closed once written, or once the write failed (the connection went away).
        sent.futureResult.whenComplete { _ in try? handle.close() }
        sent.futureResult.cascade(to: promise)
        context.write(wrapOutboundOut(.fileRegion(region)), promise: sent)
    }

    /// Added with Hummingbird's `additionalChannelHandlers`, which sit after its conversion to
    /// HTTP types: puts a `FileRegionHandler` first in the pipeline, and a
    /// `ConnectionTimeoutHandler` then a `DownloadFastPath` right after HTTP/1 parsing (before
    /// that conversion); otherwise passes everything on (a handler must be inbound or outbound
    /// to be added).
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny

        private let handlers: Handlers
        private let header: TimeAmount
        private let idle: TimeAmount

        init(handlers: Handlers, header: TimeAmount, idle: TimeAmount) {
            self.handlers = handlers
            self.header = header
            self.idle = idle
        }

        func handlerAdded(context: ChannelHandlerContext) {
            let pipeline = context.pipeline.syncOperations
            do {
                let conversion = try pipeline.handler(type: HTTP1ToHTTPServerCodec.self)
                try pipeline.addHandler(ConnectionTimeoutHandler(header: header, idle: idle), position: .before(conversion))
                try pipeline.addHandler(DownloadFastPath(handlers: handlers), position: .before(conversion))
                // A response of a few hundred KiB handed to the kernel whole (a file region)
                // need not flip the channel to unwritable and back (NIO's default high mark
                // is 64 KiB): that toggle runs through every handler twice per download.
                try context.channel.syncOptions?.setOption(.writeBufferWaterMark,
                                                           value: .init(low: 128 << 10, high: 512 << 10))
                // If this one fails, bodies fall back to FileStreamer.
                try? pipeline.addHandler(FileRegionHandler(), position: .first)
            } catch {
                // No connection without its timeouts (a Hummingbird that builds its pipeline
                // differently fails every request here, and the tests, rather than run unguarded).
                handlers.env.logger.error("cannot set up the connection's handlers", metadata: ["error": "\(error)"])
                context.close(promise: nil)
            }
        }
    }
}

/// The files a connection's responses have handed to its `FileRegionHandler`, each under a
/// marker. One per connection; an entry whose marker never reaches the handler (the
/// connection closed first) goes with it, and its file is closed then.
final class PendingFiles: Sendable {
    struct Entry: Sendable {
        let file: OpenFile
        let first: Int64
        let last: Int64
    }

    static let markerSize = 16
    /// The first half of every marker: random for each process, so no body bytes can pass for
    /// a marker (the second half numbers the connection's entries).
    private static let magic = UInt64.random(in: 1...UInt64.max)

    private let state = Mutex<(next: UInt64, entries: [UInt64: Entry])>((1, [:]))

    /// Keeps `first...last` of `file` for the handler; returns the marker to write instead.
    func add(_ file: OpenFile, first: Int64, last: Int64) -> ByteBuffer {
        let token = state.withLock { state in
            let token = state.next
            state.next += 1
            state.entries[token] = Entry(file: file, first: first, last: last)
            return token
        }
        var marker = ByteBuffer()
        marker.reserveCapacity(Self.markerSize)
        marker.writeInteger(Self.magic)
        marker.writeInteger(token)
        return marker
    }

    func take(marker: ByteBuffer) -> Entry? {
        guard marker.getInteger(at: marker.readerIndex, as: UInt64.self) == Self.magic,
              let token = marker.getInteger(at: marker.readerIndex + 8, as: UInt64.self) else { return nil }
        return state.withLock { $0.entries.removeValue(forKey: token) }
    }

    // MARK: connections

    private static let connections = Mutex<[ObjectIdentifier: PendingFiles]>([:])

    /// The pending files of `channel`'s connection, or nil when it sends no file regions.
    static func of(_ channel: any Channel) -> PendingFiles? {
        connections.withLock { $0[ObjectIdentifier(channel)] }
    }

    fileprivate static func register(_ pending: PendingFiles, for channel: any Channel) {
        connections.withLock { $0[ObjectIdentifier(channel)] = pending }
    }

    fileprivate static func unregister(_ channel: any Channel) {
        connections.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }
}
