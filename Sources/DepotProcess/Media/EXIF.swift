import DepotCore
import Foundation

/// The EXIF facts a user looks for in a photo — when it was taken, with what camera, where,
/// which way up — read from the TIFF structure EXIF is (CIPA DC-008): in a JPEG's APP1
/// "Exif" segment, a PNG's eXIf chunk, a WebP's EXIF chunk, or a TIFF file itself.
/// Bounded: at most 64 KiB of the file's start for the container, 1 MiB of EXIF, 512 entries.
public struct EXIFFacts: Sendable, Equatable {
    /// 1–8 (TIFF tag 274), nil when the file does not say.
    public var orientation: Int?
    public var make: String?
    public var model: String?
    /// DateTimeOriginal ("2024:05:01 10:20:30"), else DateTime, as written (local time of the camera).
    public var takenAt: String?
    /// OffsetTimeOriginal ("+02:00"), when the camera wrote it.
    public var takenAtOffset: String?
    public var latitude: Double?
    public var longitude: Double?
    public var altitude: Double?
    public var software: String?

    public var isEmpty: Bool { self == EXIFFacts() }

    /// The facts in `file`, empty when it has no EXIF or it cannot be read.
    public static func read(_ file: any RandomAccessBytes) -> EXIFFacts {
        guard let head = try? file.read(at: 0, count: 64 * 1024), head.count >= 8 else { return EXIFFacts() }
        if head.starts(with: [0x49, 0x49, 0x2A, 0x00]) || head.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) {
            // A TIFF: its IFDs may be anywhere; read up to 1 MiB.
            guard let tiff = try? file.read(at: 0, count: 1 << 20) else { return EXIFFacts() }
            return parse(tiff)
        }
        guard let payload = payload(head) else { return EXIFFacts() }
        return parse(payload)
    }

    /// The TIFF bytes of the EXIF block in a JPEG, PNG or WebP head.
    static func payload(_ head: [UInt8]) -> [UInt8]? {
        if head.starts(with: [0xFF, 0xD8]) {
            var i = 2
            while i + 4 <= head.count, head[i] == 0xFF {
                let marker = head[i + 1]
                if marker == 0xD9 || marker == 0xDA { return nil }
                let length = Int(head[i + 2]) << 8 | Int(head[i + 3])
                guard length >= 2 else { return nil }
                if marker == 0xE1, i + 4 + length - 2 <= head.count,
                   Array(head[(i + 4)..<min(i + 10, head.count)]) == Array("Exif".utf8) + [0, 0] {
                    return Array(head[(i + 10)..<(i + 2 + length)])
                }
                i += 2 + length
            }
            return nil
        }
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
            var i = 8
            while i + 12 <= head.count {
                let length = Int(MediaSignatures.be32(head, i))
                let type = String(decoding: head[(i + 4)..<(i + 8)], as: UTF8.self)
                if type == "eXIf" { return i + 8 + length <= head.count ? Array(head[(i + 8)..<(i + 8 + length)]) : nil }
                if type == "IDAT" || type == "IEND" { return nil }
                i += 12 + length
            }
            return nil
        }
        if head.count >= 12, head.starts(with: Array("RIFF".utf8)), Array(head[8..<12]) == Array("WEBP".utf8) {
            var i = 12
            while i + 8 <= head.count {
                let length = Int(le32(head, i + 4))
                let type = String(decoding: head[i..<(i + 4)], as: UTF8.self)
                if type == "EXIF" {
                    guard i + 8 + length <= head.count else { return nil }
                    var block = Array(head[(i + 8)..<(i + 8 + length)])
                    if block.starts(with: Array("Exif".utf8) + [0, 0]) { block.removeFirst(6) }
                    return block
                }
                i += 8 + length + (length & 1)
            }
        }
        return nil
    }

    /// The facts in a TIFF structure (IFD0, its EXIF and GPS IFDs).
    static func parse(_ tiff: [UInt8]) -> EXIFFacts {
        var facts = EXIFFacts()
        guard tiff.count >= 8 else { return facts }
        let little = tiff[0] == 0x49
        func u16(_ i: Int) -> Int? {
            guard i >= 0, i + 2 <= tiff.count else { return nil }
            return little ? Int(tiff[i]) | Int(tiff[i + 1]) << 8 : Int(tiff[i]) << 8 | Int(tiff[i + 1])
        }
        func u32(_ i: Int) -> Int? {
            guard let a = u16(i), let b = u16(i + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        struct Entry { var tag: Int; var type: Int; var count: Int; var valueOffset: Int }
        func entries(_ offset: Int) -> [Entry] {
            guard let count = u16(offset), count <= 512 else { return [] }
            return (0..<count).compactMap { k in
                let at = offset + 2 + k * 12
                guard let tag = u16(at), let type = u16(at + 2), let n = u32(at + 4) else { return nil }
                let sizes = [1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8]
                let bytes = (sizes[type] ?? 1) * n
                let valueOffset = bytes <= 4 ? at + 8 : (u32(at + 8) ?? -1)
                return Entry(tag: tag, type: type, count: n, valueOffset: valueOffset)
            }
        }
        func string(_ e: Entry) -> String? {
            guard e.type == 2, e.valueOffset >= 0, e.valueOffset + e.count <= tiff.count else { return nil }
            let text = String(decoding: tiff[e.valueOffset..<(e.valueOffset + e.count)].prefix { $0 != 0 }, as: UTF8.self)
                .trimmingCharacters(in: .whitespaces)
            return text.isEmpty ? nil : text
        }
        func integer(_ e: Entry) -> Int? { e.type == 3 ? u16(e.valueOffset) : e.type == 4 ? u32(e.valueOffset) : nil }
        func rationals(_ e: Entry) -> [Double] {
            guard e.type == 5, e.count <= 8 else { return [] }
            return (0..<e.count).compactMap { k in
                guard let n = u32(e.valueOffset + k * 8), let d = u32(e.valueOffset + k * 8 + 4), d != 0 else { return nil }
                return Double(n) / Double(d)
            }
        }
        guard let ifd0 = u32(4) else { return facts }
        var exifIFD: Int?, gpsIFD: Int?
        var dateTime: String?
        for e in entries(ifd0) {
            switch e.tag {
            case 0x010F: facts.make = string(e)
            case 0x0110: facts.model = string(e)
            case 0x0112: facts.orientation = integer(e).flatMap { (1...8).contains($0) ? $0 : nil }
            case 0x0131: facts.software = string(e)
            case 0x0132: dateTime = string(e)
            case 0x8769: exifIFD = u32(e.valueOffset)
            case 0x8825: gpsIFD = u32(e.valueOffset)
            default: break
            }
        }
        if let exifIFD {
            for e in entries(exifIFD) {
                if e.tag == 0x9003 { facts.takenAt = string(e) }
                if e.tag == 0x9011 { facts.takenAtOffset = string(e) }
            }
        }
        if facts.takenAt == nil { facts.takenAt = dateTime }
        if let gpsIFD {
            var latRef: String?, lonRef: String?, altRef = 0
            var lat: [Double] = [], lon: [Double] = [], alt: [Double] = []
            for e in entries(gpsIFD) {
                switch e.tag {
                case 1: latRef = e.count <= 4 && e.valueOffset < tiff.count ? String(UnicodeScalar(tiff[e.valueOffset])) : nil
                case 2: lat = rationals(e)
                case 3: lonRef = e.count <= 4 && e.valueOffset < tiff.count ? String(UnicodeScalar(tiff[e.valueOffset])) : nil
                case 4: lon = rationals(e)
                case 5: altRef = e.valueOffset < tiff.count ? Int(tiff[e.valueOffset]) : 0
                case 6: alt = rationals(e)
                default: break
                }
            }
            func degrees(_ v: [Double]) -> Double? { v.count == 3 ? v[0] + v[1] / 60 + v[2] / 3600 : nil }
            if let l = degrees(lat), (0...90).contains(l) { facts.latitude = latRef == "S" ? -l : l }
            if let l = degrees(lon), (0...180).contains(l) { facts.longitude = lonRef == "W" ? -l : l }
            if let a = alt.first { facts.altitude = altRef == 1 ? -a : a }
        }
        return facts
    }
}
