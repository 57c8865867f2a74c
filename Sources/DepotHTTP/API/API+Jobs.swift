import DepotCore
import DepotQueue
import DepotStore
import Foundation
import Hummingbird

extension Handlers {
    func listJobs(_ request: Request) async throws -> Response {
        let (limit, offset) = try paging(request)
        let q = request.uri.queryParameters
        var state: JobState?
        if let text = q["state"] {
            guard let s = JobState(rawValue: String(text)) else {
                throw APIError.badRequest("state must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            state = s
        }
        let kind = q["kind"].map(String.init)
        if let kind, JobKinds.named(kind) == nil {
            throw APIError.badRequest("kind must be one of \(JobKinds.all.map(\.name).joined(separator: ", "))")
        }
        var versionID: Int64?
        if let text = q["version_id"] {
            guard let v = Int64(text), v > 0 else { throw APIError.badRequest("version_id must be a positive integer") }
            versionID = v
        }
        let queue = env.queue, wantedState = state, wantedVersion = versionID
        let records = try await blocking {
            try queue.records(try queue.jobs(state: wantedState, kind: kind, versionID: wantedVersion, limit: limit + 1, offset: offset,
                                             oldestFirst: true))
        }
        return page(records, limit: limit, offset: offset)
    }

    func job(_ id: Int64) async throws -> Response {
        let queue = env.queue
        guard let record = try await blocking({ try queue.job(id: id).map { try queue.records([$0])[0] } }) else {
            throw APIError.notFound("no job \(id)")
        }
        return jsonResponse(record)
    }

    /// POST /jobs {"version_id", "kind", "parameters"?, "priority"?}: a person's job, which
    /// runs before background work.
    func queueJob(_ request: Request) async throws -> Response {
        let body = try await readJSON(request)
        guard let versionID = Self.integer(body["version_id"]), versionID > 0 else {
            throw APIError.badRequest("version_id must be a positive integer")
        }
        guard let kind = body["kind"] as? String, !kind.isEmpty else { throw APIError.badRequest("kind must be a job kind such as extract") }
        let record = try await enqueue(kind: kind, versionID: versionID, body: body)
        return jsonResponse(record, status: .created)
    }

    /// POST /documents/{id}/generate {"parameters"?, "priority"?}: a generate job for the
    /// document's current version, with the person priority; 202 with the job (it runs when
    /// the version's extract is done).
    func generate(_ request: Request, document id: Int64) async throws -> Response {
        try await queueForCurrentVersion(kind: JobKinds.generate.name, request, document: id)
    }

    /// POST /documents/{id}/renditions {"parameters"?, "priority"?}: a rendition job (an
    /// H.264/AAC MP4, audio only, or a frame; `Renditions.parameters`) for the document's
    /// current version, with the person priority; 202 with the job, whose progress follows
    /// the encode. A request that cannot be done for the file is 422 with why.
    func rendition(_ request: Request, document id: Int64) async throws -> Response {
        try await queueForCurrentVersion(kind: JobKinds.rendition.name, request, document: id)
    }

    private func queueForCurrentVersion(kind: String, _ request: Request, document id: Int64) async throws -> Response {
        let body = try await readJSON(request, allowEmpty: true)
        let catalog = env.queue.catalog
        guard let document = try await blocking({ try catalog.document(id: id) }) else { throw APIError.notFound("no document \(id)") }
        let record = try await enqueue(kind: kind, versionID: document.currentVersionID, body: body)
        return jsonResponse(record, status: .accepted)
    }

    /// Queues a person's job of `kind` with the body's "parameters" and "priority"; one
    /// implementation for POST /jobs, /documents/{id}/generate and /documents/{id}/renditions.
    private func enqueue(kind: String, versionID: Int64, body: [String: Any]) async throws -> JobRecord {
        var parameters: JobParameters = [:]
        if let given = body["parameters"] {
            guard let object = given as? [String: Any] else { throw APIError.badRequest("parameters must be an object") }
            for (name, value) in object {
                if let text = value as? String { parameters[name] = .string(text) }
                else if isBoolean(value), let flag = value as? Bool { parameters[name] = .bool(flag) }
                else if let i = Self.integer(value), let small = Int(exactly: i) { parameters[name] = .int(small) }
                else if let d = value as? Double { parameters[name] = .double(d) }
                else { throw APIError.badRequest("parameter \(name) must be a string, a number or a boolean") }
            }
        }
        var priority: Int?
        if let p = body["priority"] {
            guard let v = Self.integer(p), let small = Int(exactly: v) else { throw APIError.badRequest("priority must be an integer") }
            priority = small
        }
        let queue = env.queue, chooser = env.chooseProcessor, chosen = parameters, wanted = priority
        let record = try await blocking { () -> Result<JobRecord, APIError> in
            do {
                let job = try queue.enqueue(kind: kind, versionID: versionID, parameters: chosen, priority: wanted, queuedBy: "api",
                                            chooser: chooser)
                return .success(try queue.records([job])[0])
            } catch let error as JobQueueError {
                return .failure(APIError(error))
            }
        }.get()
        return record
    }

    /// Retry or cancel: the queue's one implementation, which `depot jobs retry/cancel` calls too.
    func changeJob(_ id: Int64, retry: Bool) async throws -> Response {
        let queue = env.queue
        let record = try await blocking { () -> Result<JobRecord, APIError> in
            do {
                let job = retry ? try queue.retry(id: id) : try queue.cancel(id: id)
                return .success(try queue.records([job])[0])
            } catch let error as JobQueueError {
                return .failure(APIError(error))
            }
        }.get()
        return jsonResponse(record)
    }
}

extension APIError {
    /// The queue's refusals as HTTP answers: 404, 409, 422.
    init(_ error: JobQueueError) {
        switch error.value {
        case .notFound: self = .notFound(error.message)
        case .conflict: self = .conflict(error.message)
        case .invalid: self.init(status: .unprocessableContent, code: "invalid", message: error.message)
        }
    }
}
