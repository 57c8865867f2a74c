import DepotCore
import DepotStore

/// `webhook.dead`: a webhook gave up on an event after its attempts.
public struct WebhookDead: EventPayload {
    public static let eventType = "webhook.dead"
    public var webhook: String
    public var eventID: String
    public var eventType: String
    public var attempts: Int
    public var error: String
    public var lastStatus: Int?
    public var documentID: Int64? { nil }

    enum CodingKeys: String, CodingKey {
        case webhook, attempts, error
        case eventID = "event_id", eventType = "event_type", lastStatus = "last_status"
    }
}
