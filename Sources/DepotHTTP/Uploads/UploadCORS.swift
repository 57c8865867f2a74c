import HTTPTypes
import Hummingbird

/// CORS for upload links (`/u/…`), for the origins `http.upload_origins` names: a tus client
/// in a page on another site may create, resume and end uploads and read the tus headers of
/// the answers. Nothing else of depot's is open to other origins. Outside every other
/// middleware, so that error answers carry the headers too (a browser hides them otherwise).
struct UploadCORSMiddleware: RouterMiddleware {
    typealias Context = DepotRequestContext
    let origins: [String]

    static let exposed = "Location, Upload-Offset, Upload-Length, Upload-Expires, Tus-Resumable, Tus-Version, "
        + "Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, Depot-Version-ID, Depot-Version, X-Correlation-ID"
    static let allowed = "Tus-Resumable, Upload-Length, Upload-Metadata, Upload-Offset, Upload-Checksum, "
        + "Upload-Defer-Length, Content-Type, X-HTTP-Method-Override"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/u/"), let origin = request.headers[.origin],
              origins.contains("*") || origins.contains(origin) else {
            return try await next(request, context)
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = origins.contains("*") ? "*" : origin
        response.headers[.vary] = "Origin"
        response.headers[.accessControlExposeHeaders] = Self.exposed
        if request.method == .options {
            response.headers[.accessControlAllowMethods] = "POST, HEAD, PATCH, DELETE, OPTIONS"
            response.headers[.accessControlAllowHeaders] = Self.allowed
            response.headers[.accessControlMaxAge] = "86400"
        }
        return response
    }
}
