import DepotCore
import HTTPTypes
import NIOCore
import NIOHTTP1
import Synchronization

/// Per-client token buckets: each client IP may make `rate` requests a second on average and
/// `burst` at once. Buckets of clients that went quiet are dropped so the table stays small.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Int64
    }

    private let rate: Double
    private let burst: Double
    private let buckets = Mutex<[String: Bucket]>([:])

    /// - Parameters:
    ///   - rate: tokens added per second; 0 turns limiting off.
    ///   - burst: the bucket's size.
    public init(rate: Int, burst: Int) {
        self.rate = Double(rate)
        self.burst = Double(max(1, burst))
    }

    /// Takes a token for `client`; returns nil when allowed, else the seconds to wait.
    public func take(_ client: String, now: Int64 = monotonicNanoseconds()) -> Int? {
        guard rate > 0 else { return nil }
        return buckets.withLock { buckets in
            var bucket = buckets[client] ?? Bucket(tokens: burst, updated: now)
            let elapsed = Double(max(0, now - bucket.updated)) / 1e9
            bucket.tokens = min(burst, bucket.tokens + elapsed * rate)
            bucket.updated = now
            defer {
                buckets[client] = bucket
                if buckets.count > 10_000 { Self.prune(&buckets, now: now, full: burst / rate) }
            }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
        }
    }

    /// Drops buckets that have refilled completely: they hold no state worth keeping.
    private static func prune(_ buckets: inout [String: Bucket], now: Int64, full seconds: Double) {
        let horizon = Int64(seconds * 1e9)
        buckets = buckets.filter { now - $0.value.updated < horizon }
    }
}

/// Counts bad links per client in a fixed window; past the limit the client gets 429 on
/// every download until its window ends (so guessing signatures does not scale).
public final class BadLinkTracker: Sendable {
    private struct Window {
        var start: Int64
        var count: Int
    }

    private let limit: Int
    private let window: Int64
    private let windows = Mutex<[String: Window]>([:])

    public init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = window.nanosecondsValue
    }

    /// Records one bad link from `client`.
    public func record(_ client: String, now: Int64 = monotonicNanoseconds()) {
        windows.withLock { windows in
            var w = windows[client] ?? Window(start: now, count: 0)
            if now - w.start >= window { w = Window(start: now, count: 0) }
            w.count += 1
            windows[client] = w
            if windows.count > 10_000 { windows = windows.filter { now - $0.value.start < window } }
        }
    }

    /// Seconds until `client` may try again, or nil when it is not blocked.
    public func blocked(_ client: String, now: Int64 = monotonicNanoseconds()) -> Int? {
        windows.withLock { windows in
            guard let w = windows[client], now - w.start < window, w.count >= limit else { return nil }
            return max(1, Int((window - (now - w.start)) / 1_000_000_000))
        }
    }
}

/// Closes a connection that stops making progress. It sits right after HTTP/1 parsing, so it
/// sees every request — those `DownloadFastPath` answers too:
/// - the first request head must have arrived `header` after the connection opened, and each
///   next one `idle` after the last response ended; a client trickling its headers (slowloris)
///   resets nothing, since a head counts only once complete;
/// - a request body must keep coming: `idle` without a part of it closes the connection;
/// - while requests are being answered no timer runs, until a response's last byte has left
///   (a long download is not idle).
final class ConnectionTimeoutHandler: HTTPMessageHandler {
    private let header: TimeAmount
    private let idle: TimeAmount
    /// When the connection is closed unless it makes progress first; nil while requests are
    /// being answered. Moving it costs nothing: the one timer checks it when it fires and
    /// sleeps on to a later deadline (no timer is scheduled and cancelled per request).
    private var deadline: NIODeadline?
    private var timer: Scheduled<Void>?
    /// Requests whose head arrived and whose response has not ended.
    private var open = 0
    private var readingBody = false
    /// Per request in flight, in order: whether the connection may stay open after its
    /// response (HTTP/1.0 without `Connection: keep-alive`, or `Connection: close`, may not).
    private var keepAlive: [Bool] = []
    /// The client has sent its last byte (FIN). Nothing more can arrive, so the connection is
    /// closed once nothing is owed to it — here, on the event loop, rather than whenever
    /// Hummingbird's per-connection task gets to see its request stream end: the slot a
    /// connection holds against its client's cap is given back at once, however busy the
    /// task pool is.
    private var inputClosed = false

    init(header: TimeAmount, idle: TimeAmount) {
        self.header = header
        self.idle = idle
    }

    func handlerAdded(context: ChannelHandlerContext) { extend(context, header) }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            open += 1
            readingBody = true
            keepAlive.append(head.isKeepAlive)
            extend(context, idle)
        case .body:
            extend(context, idle)
        case .end:
            readingBody = false
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            inputClosed = true
            if open == 0 {
                context.close(promise: nil)
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        // Idle from when the response's last byte left, not when its end was queued: a body
        // sent from a file can take far longer than the idle timeout to go out.
        let sent = promise ?? context.eventLoop.makePromise(of: Void.self)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let mayStay = keepAlive.isEmpty ? true : keepAlive.removeFirst()
        sent.futureResult.whenComplete { _ in
            let (handler, context) = loopBound.value
            handler.open -= 1
            // RFC 9112 §9.3: an HTTP/1.0 request without keep-alive, or one that said close,
            // ends its connection with its response (Hummingbird would leave it open).
            if !mayStay || (handler.inputClosed && handler.open == 0) {
                context.close(promise: nil)
                return
            }
            if handler.open == 0, !handler.readingBody { handler.extend(context, handler.idle) }
        }
        context.write(data, promise: sent)
    }

    private func extend(_ context: ChannelHandlerContext, _ delay: TimeAmount) {
        deadline = .now() + delay
        if timer == nil { schedule(context) }
    }

    private func schedule(_ context: ChannelHandlerContext) {
        guard let deadline else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.timer = nil
            guard let deadline = handler.deadline else { return }
            if deadline <= .now() {
                context.close(promise: nil)
            } else {
                handler.schedule(context)
            }
        }
    }
}

/// A handler of whole HTTP/1 messages as NIO's parser gives them, placed between that parser
/// and Hummingbird's conversion to HTTP types.
protocol HTTPMessageHandler: ChannelDuplexHandler, RemovableChannelHandler
    where InboundIn == HTTPServerRequestPart, InboundOut == HTTPServerRequestPart,
          OutboundIn == HTTPServerResponsePart, OutboundOut == HTTPServerResponsePart {}
