import Foundation

/// The fields of an event's data that the roll-ups read, decoded with `JSONDecoder` and the
/// rest of the document skipped: building every event's whole document as Foundation objects
/// (an artifact list, paths, digests) was most of what recording cost. A field of another type
/// than expected reads as absent, as it did before; a document that is not an object reads as
/// empty.
struct RecordedFields: Decodable {
    var strings: [String: String] = [:]
    var numbers: [String: Double] = [:]
    var deduplicated: Bool?
    /// What the job said of itself: its numeric values and its labels.
    var reportValues: [String: Double]?
    var reportLabels: [String: String] = [:]

    static let textKeys = ["collection", "media_type", "status", "kind", "processor", "outcome", "state", "reason"]
    static let numberKeys = ["size", "processing_ms", "output_bytes", "queue_wait_ms", "input_bytes", "peak_memory_bytes", "attempts"]
    /// The user-info entry naming further numeric fields to read (the custom metrics' `field`s).
    static let extraNumbersKey = CodingUserInfoKey(rawValue: "depot.recordedFields.extraNumbers")!

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// A JSON number; nil for anything else (`JSONDecoder` reads no boolean as a number).
    struct Number: Decodable {
        var value: Double?
        init(from decoder: any Decoder) throws { value = try? decoder.singleValueContainer().decode(Double.self) }
    }

    struct Report: Decodable {
        var values: [String: Number]?
        var labels: [String: String]?
    }

    init() {}

    init(from decoder: any Decoder) throws {
        guard let c = try? decoder.container(keyedBy: Key.self) else { return }
        for name in Self.textKeys {
            if let value = try? c.decodeIfPresent(String.self, forKey: Key(name)) { strings[name] = value }
        }
        let extra = decoder.userInfo[Self.extraNumbersKey] as? [String] ?? []
        for name in Self.numberKeys + extra where numbers[name] == nil {
            if let value = (try? c.decodeIfPresent(Number.self, forKey: Key(name)))??.value { numbers[name] = value }
        }
        deduplicated = try? c.decodeIfPresent(Bool.self, forKey: Key("deduplicated"))
        if let report = (try? c.decodeIfPresent(Report.self, forKey: Key("report"))) ?? nil, let values = report.values {
            reportValues = values.compactMapValues(\.value)
            reportLabels = report.labels ?? [:]
        }
    }

    /// The fields of `json`, with `extraNumbers` also read as numbers.
    static func decode(_ json: String, extraNumbers: [String], with decoder: JSONDecoder) -> RecordedFields {
        if !extraNumbers.isEmpty { decoder.userInfo[extraNumbersKey] = extraNumbers }
        return (try? decoder.decode(RecordedFields.self, from: Data(json.utf8))) ?? RecordedFields()
    }
}
