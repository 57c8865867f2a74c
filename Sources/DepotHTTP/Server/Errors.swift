import DepotCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// An error answered in depot's one JSON shape:
/// `{"code": "...", "message": "...", "correlation_id": "...", "timestamp": "..."}`.
struct APIError: Error {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var headers: HTTPFields = [:]

    static func badRequest(_ message: String) -> APIError { .init(status: .badRequest, code: "bad_request", message: message) }
    static func notFound(_ message: String = "no such resource") -> APIError { .init(status: .notFound, code: "not_found", message: message) }
    static func conflict(_ message: String) -> APIError { .init(status: .conflict, code: "conflict", message: message) }
    /// The one answer to every bad, tampered, expired or revoked link: it never says which.
    static let badLink = APIError(status: .forbidden, code: "link_invalid", message: "this link is not valid")

    static func tooManyRequests(retryAfter: Int) -> APIError {
        var e = APIError(status: .tooManyRequests, code: "rate_limited", message: "too many requests; retry later")
        e.headers[.retryAfter] = String(retryAfter)
        return e
    }
}

/// Turns every error (ours, Hummingbird's 404/405, anything unexpected) into the JSON shape,
/// with the request's correlation id in the body, the `X-Correlation-ID` header and the log.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = DepotRequestContext
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let correlationID = context.id
        do {
            var response = try await next(request, context)
            response.headers[HTTPField.Name("X-Correlation-ID")!] = correlationID
            return response
        } catch let error as APIError {
            return Self.response(error, correlationID: correlationID, request: request)
        } catch let error as HTTPError {
            let code: String
            switch error.status.code {
            case 404: code = "not_found"
            case 405: code = "method_not_allowed"
            case 413: code = "payload_too_large"
            case 400..<500: code = "bad_request"
            default: code = "internal"
            }
            let message = error.body ?? (error.status.code == 404 ? "no such resource" : error.status.reasonPhrase)
            var e = APIError(status: error.status, code: code, message: message)
            e.headers = error.headers
            return Self.response(e, correlationID: correlationID, request: request)
        } catch {
            logger.error("request failed", metadata: ["correlation_id": "\(correlationID)", "path": "\(request.uri.path)",
                                                      "error": "\(error)"])
            return Self.response(APIError(status: .internalServerError, code: "internal",
                                          message: "internal error; quote the correlation id when reporting it"),
                                 correlationID: correlationID, request: request)
        }
    }

    /// The one error shape.
    struct Body: Encodable, Sendable {
        var code: String
        var message: String
        var correlationID: String
        var timestamp: Timestamp
        enum CodingKeys: String, CodingKey { case code, message, timestamp, correlationID = "correlation_id" }
    }

    static func response(_ error: APIError, correlationID: String, request: Request) -> Response {
        let body = Body(code: error.code, message: error.message, correlationID: correlationID, timestamp: .now)
        var headers = error.headers
        headers[HTTPField.Name("X-Correlation-ID")!] = correlationID
        return jsonResponse(body, status: error.status, headers: headers, head: request.method == .head)
    }
}

/// A JSON response from a Codable value (sorted keys: stable output).
func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], head: Bool = false) -> Response {
    let data = (try? responseEncoder.encode(value)) ?? Data("{}".utf8)
    var headers = headers
    headers[.contentType] = "application/json"
    headers[.cacheControl] = headers[.cacheControl] ?? "no-store"
    if head {
        headers[.contentLength] = String(data.count)
        return Response(status: status, headers: headers, body: ResponseBody())
    }
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
}

private let responseEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
}()
