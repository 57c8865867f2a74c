import DepotCore

/// The magic numbers of audio, video and image formats beyond the few `TypeDetector` checks
/// itself, and the ISO base media (MP4) box walk that tells audio-only MP4 from video. Only
/// bytes: libavformat's probing runs in the worker, never in the daemon.
package enum MediaSignatures {
    /// The media types the media processors take (`MediaProcessing`), by class.
    package static let videoTypes = ["video/mp4", "video/quicktime", "video/webm", "video/x-matroska", "video/x-msvideo", "video/ogg",
                             "video/x-flv", "video/mp2t", "video/mpeg", "video/x-ms-asf", "video/3gpp"]
    package static let audioTypes = ["audio/mp4", "audio/mpeg", "audio/aac", "audio/flac", "audio/ogg", "audio/wav", "audio/aiff",
                             "audio/x-ms-wma", "audio/x-flv", "audio/x-matroska", "audio/webm"]
    package static let imageTypes = ["image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff",
                             "image/vnd.adobe.photoshop", "image/jp2", "image/avif", "image/heic"]

    /// ASF's header object GUID (WMA, WMV) and its video stream type GUID.
    package static let asfHeader: [UInt8] = [0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C]
    package static let asfVideoMedia: [UInt8] = [0xC0, 0xEF, 0x19, 0xBC, 0x4D, 0x5B, 0xCF, 0x11, 0xA8, 0xFD, 0x00, 0x80, 0x5F, 0x5C, 0x44, 0x2B]
    package static let jp2Signature: [UInt8] = [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A]

    /// The type of the formats whose first bytes say it all (nil: none of them).
    package static func mediaType(_ head: [UInt8]) -> String? {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + magic.count && Array(head[offset..<offset + magic.count]) == magic
        }
        func ascii(_ text: String, at offset: Int = 0) -> Bool { starts(Array(text.utf8), at: offset) }

        if ascii("FORM") && (ascii("AIFF", at: 8) || ascii("AIFC", at: 8)) { return "audio/aiff" }
        if starts(asfHeader) { return TypeDetector.contains(head, asfVideoMedia) ? "video/x-ms-asf" : "audio/x-ms-wma" }
        // FLV: "FLV", version 1, then flags (4: audio, 1: video).
        if ascii("FLV") && head.count >= 5 && head[3] == 1 { return head[4] & 0x01 == 0 && head[4] & 0x04 != 0 ? "audio/x-flv" : "video/x-flv" }
        // MPEG-TS: a sync byte every 188 bytes (192 for Blu-ray's M2TS, after a 4-byte timecode).
        if head.count >= 3 * 188, head[0] == 0x47, head[188] == 0x47, head[376] == 0x47 { return "video/mp2t" }
        if head.count >= 3 * 192 + 4, head[4] == 0x47, head[196] == 0x47, head[388] == 0x47 { return "video/mp2t" }
        if starts([0x00, 0x00, 0x01, 0xBA]) { return "video/mpeg" }
        if isADTS(head, at: 0) { return "audio/aac" }
        // BMP: "BM", then a DIB header of one of the sizes Windows and OS/2 write.
        if ascii("BM") && head.count >= 18 && [12, 16, 40, 52, 56, 64, 108, 124].contains(Int(le32(head, 14))) { return "image/bmp" }
        // TIFF and BigTIFF, both byte orders.
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A])
            || starts([0x49, 0x49, 0x2B, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2B]) { return "image/tiff" }
        if ascii("8BPS") && head.count >= 6 && (head[5] == 1 || head[5] == 2) { return "image/vnd.adobe.photoshop" }
        if starts(jp2Signature) || starts([0xFF, 0x4F, 0xFF, 0x51]) { return "image/jp2" }
        return nil
    }

    /// An ADTS AAC frame header at `offset`: 12 sync bits, layer 0, a valid sampling index.
    package static func isADTS(_ head: [UInt8], at offset: Int) -> Bool {
        guard offset >= 0, head.count >= offset + 7 else { return false }
        let b1 = head[offset + 1], b2 = head[offset + 2]
        guard head[offset] == 0xFF, b1 & 0xF6 == 0xF0, (b2 >> 2) & 0x0F < 13 else { return false }
        let length = (Int(head[offset + 3] & 0x03) << 11) | (Int(head[offset + 4]) << 3) | Int(head[offset + 5] >> 5)
        guard length >= 7 else { return false }
        // A second frame where the first one ends, when the head holds it.
        let next = offset + length
        return head.count < next + 2 || (head[next] == 0xFF && head[next + 1] & 0xF6 == 0xF0)
    }

    /// The length of an ID3v2 tag at the start (10-byte header + syncsafe size), 0 without one.
    package static func id3Length(_ head: [UInt8]) -> Int {
        guard head.count >= 10, head[0] == 0x49, head[1] == 0x44, head[2] == 0x33 else { return 0 }
        let size = (Int(head[6] & 0x7F) << 21) | (Int(head[7] & 0x7F) << 14) | (Int(head[8] & 0x7F) << 7) | Int(head[9] & 0x7F)
        return 10 + size + (head[5] & 0x10 != 0 ? 10 : 0)
    }

    /// An ISO base media file (ftyp at 4): HEIF/AVIF images by their brands, QuickTime, and
    /// MP4 told apart as audio or video by its tracks' handlers (an M4A is often branded
    /// "mp42" or "isom" like any video), read from the moov box wherever it is in the file.
    package static func isoMediaType(_ head: [UInt8], of bytes: any RandomAccessBytes) -> String {
        let ftypSize = Int(be32(head, 0))
        var brands = [String(decoding: head[8..<12], as: UTF8.self)]
        var i = 16
        while i + 4 <= min(ftypSize, head.count, 256) {
            brands.append(String(decoding: head[i..<i + 4], as: UTF8.self))
            i += 4
        }
        let major = brands[0]
        if major == "avif" || major == "avis" || (major == "mif1" && brands.contains("avif")) { return "image/avif" }
        if ["heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1"].contains(major) { return "image/heic" }
        if major == "M4A " || major == "M4B " || major == "M4P " { return "audio/mp4" }
        let handlers = trackHandlers(bytes)
        if handlers.contains("soun") && !handlers.contains("vide") { return "audio/mp4" }
        if major == "qt  " { return "video/quicktime" }
        if major.hasPrefix("3gp") || major.hasPrefix("3g2") { return "video/3gpp" }
        return "video/mp4"
    }

    /// Matroska or WebM (an EBML header at 0), told apart as audio or video by its tracks'
    /// types, read from the Tracks element of the first Segment. A file whose tracks cannot be
    /// found (broken EBML, tracks past the first 16 MiB) is taken for video, as before: its
    /// processors then say what is wrong.
    package static func matroskaType(_ head: [UInt8], of bytes: any RandomAccessBytes) -> String {
        let webm = TypeDetector.contains(Array(head.prefix(64)), Array("webm".utf8))
        let types = matroskaTrackTypes(bytes)
        // TrackType 1 is video, 2 audio (17 subtitles, 18 buttons, 32 control, 3 complex).
        let audioOnly = types.contains(2) && !types.contains(1) && !types.contains(3)
        switch (webm, audioOnly) {
        case (true, true): return "audio/webm"
        case (true, false): return "video/webm"
        case (false, true): return "audio/x-matroska"
        case (false, false): return "video/x-matroska"
        }
    }

    /// The TrackType of every TrackEntry in the first Segment's Tracks element (empty when
    /// there is none within reach): the EBML header and the Segment's top-level children are
    /// walked by their sizes (at most 256 of them, 16 MiB in), the Tracks element read whole up
    /// to 1 MiB.
    package static func matroskaTrackTypes(_ bytes: any RandomAccessBytes) -> Set<UInt64> {
        /// An element's ID (marker bits kept), data size (nil: unknown) and header length.
        func element(at offset: Int64) -> (id: UInt64, size: UInt64?, header: Int64)? {
            guard let head = try? bytes.read(at: offset, count: 12), !head.isEmpty,
                  let id = ebmlVint(head, at: 0, keepMarker: true), id.length <= 4,
                  let size = ebmlVint(head, at: id.length, keepMarker: false) else { return nil }
            return (id.value, size.unknown ? nil : size.value, Int64(id.length + size.length))
        }
        guard let header = element(at: 0), header.id == 0x1A45_DFA3, let headerSize = header.size else { return [] }
        var offset = header.header + Int64(headerSize)
        guard let segment = element(at: offset), segment.id == 0x1853_8067 else { return [] }
        offset += segment.header
        let end = segment.size.map { min(bytes.size, offset + Int64(clamping: $0)) } ?? bytes.size
        for _ in 0..<256 {
            guard offset < end, offset < 16 << 20, let child = element(at: offset) else { return [] }
            let content = offset + child.header
            if child.id == 0x1654_AE6B {
                guard let size = child.size, size <= 1 << 20,
                      let tracks = try? bytes.read(at: content, count: Int(size)) else { return [] }
                return trackTypes(in: tracks)
            }
            // A Cluster before any Tracks: there are none to find; an unknown size ends the walk.
            guard child.id != 0x1F43_B675, let size = child.size else { return [] }
            offset = content + Int64(clamping: size)
        }
        return []
    }

    /// The TrackType (0x83) values of the TrackEntry (0xAE) elements in a Tracks element's data.
    package static func trackTypes(in tracks: [UInt8]) -> Set<UInt64> {
        var found = Set<UInt64>()
        func children(_ start: Int, _ end: Int, _ visit: (UInt64, Int, Int) -> Void) {
            var i = start
            while i < end {
                guard let id = ebmlVint(tracks, at: i, keepMarker: true),
                      let size = ebmlVint(tracks, at: i + id.length, keepMarker: false), !size.unknown else { return }
                let content = i + id.length + size.length
                guard size.value <= UInt64(end - content) else { return }
                visit(id.value, content, content + Int(size.value))
                i = content + Int(size.value)
            }
        }
        children(0, tracks.count) { id, start, end in
            guard id == 0xAE else { return }
            children(start, end) { field, s, e in
                guard field == 0x83, e > s, e - s <= 8 else { return }
                found.insert(tracks[s..<e].reduce(0) { $0 << 8 | UInt64($1) })
            }
        }
        return found
    }

    /// An EBML variable-length integer at `offset`: its length comes from the first byte's
    /// leading zeros (1–8); an ID keeps its marker bit, a size drops it, and a size of all ones
    /// is "unknown".
    package static func ebmlVint(_ b: [UInt8], at offset: Int, keepMarker: Bool) -> (value: UInt64, length: Int, unknown: Bool)? {
        guard offset >= 0, offset < b.count, b[offset] != 0 else { return nil }
        let length = b[offset].leadingZeroBitCount + 1
        guard offset + length <= b.count else { return nil }
        var value = UInt64(keepMarker ? b[offset] : b[offset] & (0xFF >> length))
        var allOnes = value == UInt64(0xFF >> length)
        for byte in b[offset + 1..<offset + length] {
            value = value << 8 | UInt64(byte)
            allOnes = allOnes && byte == 0xFF
        }
        return (value, length, !keepMarker && allOnes)
    }

    /// The handler types ("vide", "soun", "text") of the tracks in the file's moov box: the
    /// top-level boxes are walked (at most 64), the moov read whole up to 8 MiB.
    package static func trackHandlers(_ bytes: any RandomAccessBytes) -> Set<String> {
        var offset: Int64 = 0
        for _ in 0..<64 {
            guard let header = try? bytes.read(at: offset, count: 16), header.count >= 8 else { return [] }
            var size = Int64(be32(header, 0))
            let type = String(decoding: header[4..<8], as: UTF8.self)
            var headerSize: Int64 = 8
            if size == 1, header.count >= 16 {
                size = Int64(bitPattern: (UInt64(be32(header, 8)) << 32) | UInt64(be32(header, 12)))
                headerSize = 16
            } else if size == 0 {
                size = bytes.size - offset
            }
            guard size >= headerSize else { return [] }
            if type == "moov" {
                guard size <= 8 << 20, let moov = try? bytes.read(at: offset + headerSize, count: Int(size - headerSize)) else { return [] }
                return handlers(in: moov)
            }
            offset += size
        }
        return []
    }

    /// Every "hdlr" box's handler type in a moov box's content: its boxes nest (trak → mdia →
    /// hdlr); a hdlr's type sits 8 bytes after its header (version, flags, pre_defined).
    package static func handlers(in moov: [UInt8]) -> Set<String> {
        var found = Set<String>()
        func walk(_ start: Int, _ end: Int, depth: Int) {
            var i = start
            while i + 8 <= end && depth < 8 {
                let size = Int(be32(moov, i))
                let type = String(decoding: moov[i + 4..<i + 8], as: UTF8.self)
                guard size >= 8, i + size <= end else { return }
                if type == "trak" || type == "mdia" { walk(i + 8, i + size, depth: depth + 1) }
                if type == "hdlr", size >= 20 { found.insert(String(decoding: moov[i + 16..<i + 20], as: UTF8.self)) }
                i += size
            }
        }
        walk(0, moov.count, depth: 0)
        return found
    }

    package static func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
        guard b.count >= i + 4 else { return 0 }
        return UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }
}
