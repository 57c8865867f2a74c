import Glibc
import Hummingbird
import NIOCore
import NIOHTTP1

/// Answers repeated downloads on the event loop, right after HTTP/1 parsing, the way nginx
/// serves a file: no hop to a Swift task and back, no conversion to Hummingbird's request
/// types, and the body handed to the kernel as a file region (sendfile). It takes only what
/// `Handlers.quickDownload` can answer from memory — a link verified and resolved in the last
/// second, a 200, 206 or 304, and for a whole file only a blob a download hashed in the last 10
/// minutes (`VerifiedBlobs`: the router hashes the others on the way) — and passes everything
/// else on to Hummingbird untouched, so the
/// router stays the one place that checks a link in full and gives every error.
///
/// Responses keep the order of their requests: a request is only answered here while no
/// earlier one on the connection is still with Hummingbird (HTTP pipelining). A close (a
/// graceful shutdown) waits for the bytes in flight in `FileRegionHandler`.
final class DownloadFastPath: HTTPMessageHandler {
    private let handlers: Handlers
    private var remoteIP: String?
    /// The request being answered here; its response goes out at the request's end.
    private var current: QuickDownload?
    /// Whether the parts of the request being read belong to Hummingbird.
    private var passing = false
    /// Requests handed to Hummingbird whose response has not ended.
    private var withRouter = 0
    private var date: (second: Int, text: String) = (0, "")

    init(handlers: Handlers) { self.handlers = handlers }

    func handlerAdded(context: ChannelHandlerContext) {
        remoteIP = context.channel.remoteAddress?.ipAddress.map(normalizeIP)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if withRouter == 0, head.version == .http1_1, head.isKeepAlive,
               head.method == .GET || head.method == .HEAD,
               let download = handlers.quickDownload(isHead: head.method == .HEAD, uri: head.uri,
                                                     header: { head.headers.first(name: $0) }, peerIP: remoteIP) {
                current = download
                passing = false
                return
            }
            withRouter += 1
            passing = true
            context.fireChannelRead(data)
        case .body:
            if passing { context.fireChannelRead(data) }
        case .end:
            if passing {
                context.fireChannelRead(data)
            } else if let download = current {
                current = nil
                respond(context: context, download)
            }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { withRouter -= 1 }
        context.write(data, promise: promise)
    }

    private func respond(context: ChannelHandlerContext, _ download: QuickDownload) {
        let resolved = download.resolved
        let size = resolved.target.size
        var headers = resolved.headers
        headers.add(name: "Cache-Control", value: "private, max-age=\(download.maxAge)")
        let status: HTTPResponseStatus
        let region: FileRegion?
        if let (partial, first, last, file) = download.body {
            status = partial ? .partialContent : .ok
            if partial { headers.add(name: "Content-Range", value: "bytes \(first)-\(last)/\(size)") }
            headers.add(name: "Content-Length", value: String(last - first + 1))
            if let file {
                // The descriptor stays `file`'s (shared through OpenBlobs): the handle gives
                // it back once the bytes went out, and never closes it.
                let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: file.fd)
                region = FileRegion(fileHandle: handle, readerIndex: Int(first), endIndex: Int(last) + 1)
            } else {
                region = nil
            }
        } else {
            region = nil
            status = .notModified
            headers.remove(name: "Content-Type")
            headers.remove(name: "Content-Disposition")
        }
        headers.add(name: "X-Correlation-ID", value: RequestID().description)
        headers.add(name: "Date", value: currentDate())
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if let region { context.write(wrapOutboundOut(.body(.fileRegion(region))), promise: nil) }
        let file = download.body?.file
        let sent = context.eventLoop.makePromise(of: Void.self)
        sent.futureResult.whenComplete { _ in
            // Done with the file once its bytes went out, or once the connection went away.
            _ = try? region?.fileHandle.takeDescriptorOwnership()
            withExtendedLifetime(file) {}
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: sent)
    }

    /// The Date header, formatted once a second per connection.
    private func currentDate() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        if now.tv_sec != date.second { date = (now.tv_sec, httpDate(Int64(now.tv_sec))) }
        return date.text
    }
}
