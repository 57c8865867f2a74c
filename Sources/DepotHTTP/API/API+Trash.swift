import DepotCore
import DepotStore
import Hummingbird

extension Handlers {
    /// `DELETE /documents/{id}` and `DELETE /documents/{id}/versions/{number}`: to the trash
    /// (`depot rm`'s API). Links to what went stop at once: this server forgets the links it
    /// had resolved in the last second.
    func trash(document id: Int64, version: Int?, bypassGovernance: Bool) async throws -> Response {
        let catalog = env.catalog, days = env.retention.trashDays
        let entry: TrashEntry
        do {
            entry = try await blocking {
                try catalog.trash(documentID: id, version: version, trashDays: days,
                                  guard: Catalog.pinsAndHolds(bypassGovernance: bypassGovernance))
            }
        } catch let error as TrashError {
            switch error.value {
            case .notFound, .notInTrash: throw APIError.notFound(error.message)
            case .onlyVersion: throw APIError.conflict(error.message)
            case .refused: throw APIError(status: .init(code: 423, reasonPhrase: "Locked"), code: "held", message: error.message)
            }
        }
        links.recentLinks.forgetAll()
        return jsonResponse(entry)
    }
}
