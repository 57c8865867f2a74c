import DepotCore
import HTTPTypes
import NIOCore
import NIOHTTPTypes
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

/// Closes a connection whose request head has not fully arrived in time — a client trickling
/// its headers (slowloris) keeps resetting an idle timer but never beats this one. The timer
/// runs from the connection's start (`timeout`) and again after each response (`keepAlive`:
/// the time a kept-alive connection gets to send its next request).
final class HeaderTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    private let keepAlive: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, keepAlive: TimeAmount) {
        self.timeout = timeout
        self.keepAlive = keepAlive
    }

    func handlerAdded(context: ChannelHandlerContext) { arm(context, timeout) }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(context, keepAlive) }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, _ delay: TimeAmount) {
        timer?.cancel()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: delay) {
            loopBound.value.close(promise: nil)
        }
    }
}
