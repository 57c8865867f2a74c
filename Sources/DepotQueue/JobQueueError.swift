/// Why a queue operation was refused, in words a person can act on.
public struct JobQueueError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        /// No such job or version.
        case notFound
        /// The job is in a state that does not allow it ("job 7 is running").
        case conflict
        /// A kind, a parameter or a value that is not right.
        case invalid
    }

    public let value: Value
    public let message: String

    public static func notFound(_ message: String) -> Self { .init(value: .notFound, message: message) }
    public static func conflict(_ message: String) -> Self { .init(value: .conflict, message: message) }
    public static func invalid(_ message: String) -> Self { .init(value: .invalid, message: message) }

    public var description: String { message }
}
