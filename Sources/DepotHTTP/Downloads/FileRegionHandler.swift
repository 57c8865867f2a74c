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
///
/// It also keeps a connection open while a file region is still being sent: Hummingbird closes
/// a connection right after queueing a response's end (after "Connection: close", at a
/// graceful shutdown), which would throw away the part of a download not yet in the socket.
/// A close waits for the regions in flight, at most `closeGrace` (the idle timeout, capped at
/// 20 s: systemd stops the service after 60), then goes through anyway — a client that stopped
/// reading cannot hold a connection, or a shutdown, for longer.
///
/// And a client that stops reading in the middle of a download is let go: while a file region
/// is in flight, the kernel is asked every few seconds when it last sent data on the socket;
/// nothing for the idle timeout closes the connection (nginx's `send_timeout`).
final class FileRegionHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let idle: TimeAmount
    private let closeGrace: TimeAmount
    private let pending = PendingFiles()
    /// File regions written and not yet sent (or failed).
    private var inFlight = 0
    /// The stall check: runs every quarter of the idle timeout while regions are in flight,
    /// and stops at the first run that finds none (not cancelled and rescheduled per response).
    private var stallCheck: Scheduled<Void>?
    /// A close waiting for them, and the promises of every close asked for meanwhile.
    private var heldClose: (mode: CloseMode, promise: EventLoopPromise<Void>, timer: Scheduled<Void>)?

    init(idle: TimeAmount) {
        self.idle = idle
        closeGrace = min(idle, .seconds(20))
    }

    func handlerAdded(context: ChannelHandlerContext) { PendingFiles.register(pending, for: context.channel) }

    func handlerRemoved(context: ChannelHandlerContext) {
        stallCheck?.cancel()
        PendingFiles.unregister(context.channel)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .byteBuffer(let buffer):
            guard buffer.readableBytes == PendingFiles.markerSize, let entry = pending.take(marker: buffer) else {
                context.write(data, promise: promise)
                return
            }
            let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: entry.file.releaseDescriptor())
            let region = FileRegion(fileHandle: handle, readerIndex: Int(entry.first), endIndex: Int(entry.last) + 1)
            let sent = context.eventLoop.makePromise(of: Void.self)
            // Closed once written, or once the write failed (the connection went away).
            sent.futureResult.whenComplete { _ in try? handle.close() }
            sent.futureResult.cascade(to: promise)
            send(context, region, promise: sent)
        case .fileRegion(let region):
            // From DownloadFastPath, whose descriptors are shared and stay open.
            send(context, region, promise: promise)
        }
    }

    private func send(_ context: ChannelHandlerContext, _ region: FileRegion, promise: EventLoopPromise<Void>?) {
        let sent = promise ?? context.eventLoop.makePromise(of: Void.self)
        inFlight += 1
        if stallCheck == nil { watchForStall(context) }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        sent.futureResult.whenComplete { _ in
            let (handler, context) = loopBound.value
            handler.inFlight -= 1
            if handler.inFlight == 0 { handler.releaseClose(context) }
        }
        context.write(wrapOutboundOut(.fileRegion(region)), promise: sent)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if let held = heldClose {
            if let promise { held.promise.futureResult.cascade(to: promise) }
            return
        }
        guard mode == .all, inFlight > 0 else {
            context.close(mode: mode, promise: promise)
            return
        }
        let held = context.eventLoop.makePromise(of: Void.self)
        if let promise { held.futureResult.cascade(to: promise) }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let timer = context.eventLoop.scheduleTask(in: closeGrace) {
            let (handler, context) = loopBound.value
            handler.releaseClose(context)
        }
        heldClose = (mode, held, timer)
        context.flush()
    }

    private func watchForStall(_ context: ChannelHandlerContext) {
        guard let socket = context.channel as? any SocketOptionProvider else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        stallCheck = context.eventLoop.scheduleTask(in: .nanoseconds(max(idle.nanoseconds / 4, 1_000_000))) {
            let (handler, context) = loopBound.value
            handler.stallCheck = nil
            guard handler.inFlight > 0 else { return }
            handler.watchForStall(context)
            let limit = handler.idle.nanoseconds / 1_000_000
            socket.getTCPInfo().whenSuccess { info in
                // Milliseconds since data last left (zero-window probes do not count).
                if Int64(info.tcpi_last_data_sent) >= limit {
                    // Past this handler's own close, which would wait for the stalled bytes.
                    loopBound.value.1.close(mode: .all, promise: nil)
                }
            }
        }
    }

    private func releaseClose(_ context: ChannelHandlerContext) {
        guard let held = heldClose else { return }
        heldClose = nil
        held.timer.cancel()
        context.close(mode: held.mode, promise: held.promise)
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
            // The per-client cap first: a client over it is told so and let go at once.
            let peer = context.channel.remoteAddress?.ipAddress.map(normalizeIP) ?? "unknown"
            if !handlers.clientAddresses.isTrusted(peer) {
                guard handlers.connections.open(peer) else {
                    // Written below the HTTP handlers, straight to the socket.
                    try? pipeline.addHandler(RefuseConnection(), position: .first)
                    return
                }
                let connections = handlers.connections
                context.channel.closeFuture.whenComplete { _ in connections.close(peer) }
            }
            do {
                let conversion = try pipeline.handler(type: HTTP1ToHTTPServerCodec.self)
                try pipeline.addHandler(ConnectionTimeoutHandler(header: header, idle: idle), position: .before(conversion))
                try pipeline.addHandler(DownloadFastPath(handlers: handlers), position: .before(conversion))
                try pipeline.addHandler(ExpectContinueHandler(), position: .before(conversion))
                // A response of a few hundred KiB handed to the kernel whole (a file region)
                // need not flip the channel to unwritable and back (NIO's default high mark
                // is 64 KiB): that toggle runs through every handler twice per download.
                try context.channel.syncOptions?.setOption(.writeBufferWaterMark,
                                                           value: .init(low: 128 << 10, high: 512 << 10))
                // If this one fails, bodies fall back to FileStreamer.
                try? pipeline.addHandler(FileRegionHandler(idle: idle), position: .first)
            } catch {
                // No connection without its timeouts (a Hummingbird that builds its pipeline
                // differently fails every request here, and the tests, rather than run unguarded).
                handlers.env.logger.error("cannot set up the connection's handlers", metadata: ["error": "\(error)"])
                context.close(promise: nil)
            }
        }
    }
}

/// Answers a connection over its client's cap with a bare 503 and closes it.
final class RefuseConnection: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var refused = false

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context)
        context.fireChannelActive()
    }

    private func refuse(_ context: ChannelHandlerContext) {
        guard !refused else { return }
        refused = true
        var refusal = context.channel.allocator.buffer(capacity: 128)
        refusal.writeString("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(refusal)).whenComplete { _ in loopBound.value.close(promise: nil) }
    }

    /// What the client sends meanwhile is dropped.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
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
