import NIOCore
import NIOHTTP1

/// Answers `Expect: 100-continue` with `100 Continue` as soon as the request's head arrives,
/// so that a client which asks first (curl does for any body over 1 MiB) sends its body at
/// once rather than after waiting a second. The request itself goes on without the header.
final class ExpectContinueHandler: HTTPMessageHandler {
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), head.version != .http1_0,
              head.headers["expect"].contains(where: { $0.lowercased() == "100-continue" }) else {
            context.fireChannelRead(data)
            return
        }
        head.headers.remove(name: "expect")
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}
