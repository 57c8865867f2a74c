import DepotCore
import Foundation

/// A job's parameters by name, as stored with it and handed to its worker.
public typealias JobParameters = [String: ParameterValue]
public typealias JobParameter = ParameterValue

/// What one parameter of a job kind takes.
public struct ParameterSpec: Sendable, Equatable {
    public enum ValueType: Sendable, Equatable {
        case int(ClosedRange<Int>)
        case bool
        case string(choices: [String]?)
    }

    public let name: String
    public let type: ValueType
    public let defaultValue: JobParameter
    public let help: String

    public init(_ name: String, _ type: ValueType, default value: JobParameter, help: String) {
        self.name = name
        self.type = type
        self.defaultValue = value
        self.help = help
    }

    /// The value checked against the type; text ("480", "true") is converted, as it comes
    /// from a command line.
    public func check(_ value: JobParameter) throws -> JobParameter {
        switch (type, value) {
        case (.int(let range), .int(let v)):
            guard range.contains(v) else { throw JobQueueError.invalid("\(name) must be from \(range.lowerBound) to \(range.upperBound)") }
            return value
        case (.int, .string(let text)):
            guard let v = Int(text) else { throw JobQueueError.invalid("\(name) must be an integer") }
            return try check(.int(v))
        case (.int, .double(let d)) where d.rounded() == d && abs(d) < 1e15:
            return try check(.int(Int(d)))
        case (.bool, .bool):
            return value
        case (.bool, .string(let text)) where text == "true" || text == "false":
            return .bool(text == "true")
        case (.string(let choices), .string(let text)):
            if let choices, !choices.contains(text) {
                throw JobQueueError.invalid("\(name) must be one of \(choices.joined(separator: ", "))")
            }
            return value
        case (.string, _):
            return try check(.string(value.description))
        default:
            throw JobQueueError.invalid("\(name) must be \(typeName)")
        }
    }

    var typeName: String {
        switch type {
        case .int: return "an integer"
        case .bool: return "true or false"
        case .string: return "a string"
        }
    }
}

extension JobParameters {
    /// The parameters as stored: JSON with sorted keys.
    public func jsonText() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Reads what `jsonText` wrote (an empty set for anything else).
    public static func fromJSON(_ text: String) -> JobParameters {
        (try? JSONDecoder().decode(JobParameters.self, from: Data(text.utf8))) ?? [:]
    }
}
