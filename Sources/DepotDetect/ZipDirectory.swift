import DepotCore

/// A ZIP's end-of-central-directory record and central directory (APPNOTE.TXT §4.3.12,
/// §4.3.16), read through `RandomAccessBytes` with bounds. Type detection lists the member
/// names from it; the OOXML package compares it with the local headers, as libzip's
/// consistency check does (§4.3.7), and with the names libzip reports.
///
/// Every read is bounded: the last 22 + 65535 (comment) + 1024 bytes for the end record, and
/// a directory of at most `maxDirectoryBytes`.
package struct ZipDirectory {
    package static let maxDirectoryBytes = 4 << 20

    package let bytes: any RandomAccessBytes
    /// Where the end record (with its comment) ends, and the file's size.
    package let archiveEnd: Int64
    package let fileSize: Int64
    package let entries: Int
    package let directoryOffset: Int64
    package let directorySize: Int

    /// The last end record whose comment fits in the file; nil when there is none, or for
    /// ZIP64 (left to libzip alone). Bytes may follow the record (a newline a transfer
    /// appended): up to 1 KiB of them is looked past.
    package static func read(_ bytes: any RandomAccessBytes) throws -> ZipDirectory? {
        let tailLength = Int(min(bytes.size, 22 + 65535 + 1024))
        let start = bytes.size - Int64(tailLength)
        let tail = try bytes.read(at: start, count: tailLength)
        var i = tail.count - 22
        while i >= 0 {
            if tail[i] == 0x50 && tail[i + 1] == 0x4B && tail[i + 2] == 0x05 && tail[i + 3] == 0x06 {
                let end = i + 22 + Int(le16(tail, i + 20))
                if end <= tail.count {
                    let entries = Int(le16(tail, i + 10))
                    let size = le32(tail, i + 12), offset = le32(tail, i + 16)
                    guard entries != 0xFFFF, size != 0xFFFF_FFFF, offset != 0xFFFF_FFFF else { return nil }
                    return ZipDirectory(bytes: bytes, archiveEnd: start + Int64(end), fileSize: bytes.size, entries: entries,
                                        directoryOffset: Int64(offset), directorySize: Int(size))
                }
            }
            i -= 1
        }
        return nil
    }

    /// The member names, decoded as UTF-8 with replacement, as far as the directory can be
    /// walked (a damaged record ends the list); nil when there is no directory to read or it
    /// lists more than `maxEntries`. For detection, which wants the names that are there.
    package func entryNames(maxEntries: Int) throws -> [String]? {
        guard entries <= maxEntries, let cd = try directory() else { return nil }
        var names: [String] = []
        _ = forEachRecord(in: cd) { _, name in
            names.append(String(decoding: name, as: UTF8.self))
            return true
        }
        return names
    }

    /// The entry names as stored in the central directory, in order (nil for one that is not
    /// valid UTF-8, such as a CP437 name); nil when the directory cannot be walked.
    package func storedNames() throws -> [String?]? {
        guard let cd = try directory() else { return nil }
        var names: [String?] = []
        let complete = forEachRecord(in: cd) { _, name in
            names.append(String(validating: name, as: UTF8.self))
            return true
        }
        return complete ? names : nil
    }

    /// Whether every central directory entry's local header has the same name, method,
    /// flags, CRC and sizes (libzip's rule for data descriptors included) and at most the
    /// version it needs; the modification time alone may differ.
    package func headersAgreeExceptTimes() throws -> Bool {
        guard let cd = try directory() else { return false }
        return try forEachRecord(in: cd) { p, name in
            let local = try bytes.read(at: Int64(le32(cd, p + 42)), count: 30 + name.count)
            guard local.count == 30 + name.count, le32(local, 0) == 0x0403_4B50 else { return false }
            guard le16(local, 4) <= le16(cd, p + 6),    // version needed
                  le16(local, 6) == le16(cd, p + 8),    // flags
                  le16(local, 8) == le16(cd, p + 10),   // method
                  local[30...].elementsEqual(name) else { return false }
            let sizesAgree = le32(local, 14) == le32(cd, p + 16) && le32(local, 18) == le32(cd, p + 20)
                && le32(local, 22) == le32(cd, p + 24)
            let deferred = le16(local, 6) & 0x08 != 0 && le32(local, 14) == 0 && le32(local, 18) == 0
                && le32(local, 22) == 0
            return sizesAgree || deferred
        }
    }

    /// The central directory's bytes; nil when it is too large or does not lie before the end record.
    private func directory() throws -> [UInt8]? {
        guard directorySize <= Self.maxDirectoryBytes, directoryOffset + Int64(directorySize) <= archiveEnd else { return nil }
        let cd = try bytes.read(at: directoryOffset, count: directorySize)
        return cd.count == directorySize ? cd : nil
    }

    /// Calls `body` with each record's offset in `cd` and its name's bytes, in order, while it
    /// returns true; false when `body` stopped the walk or a record is cut short or lacks its
    /// signature before `entries` records were seen.
    private func forEachRecord(in cd: [UInt8], _ body: (Int, ArraySlice<UInt8>) throws -> Bool) rethrows -> Bool {
        var p = 0
        for _ in 0..<entries {
            guard p + 46 <= cd.count, le32(cd, p) == 0x0201_4B50 else { return false }
            let nameLength = Int(le16(cd, p + 28))
            guard p + 46 + nameLength <= cd.count else { return false }
            guard try body(p, cd[(p + 46)..<(p + 46 + nameLength)]) else { return false }
            p += 46 + nameLength + Int(le16(cd, p + 30)) + Int(le16(cd, p + 32))
        }
        return true
    }
}
