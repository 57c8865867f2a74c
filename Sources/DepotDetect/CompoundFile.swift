import DepotCore

/// The stream names in a Compound File Binary file ([MS-CFB]): the container of legacy Office
/// documents (.doc, .ppt, .xls) and of password-protected OOXML, whose `EncryptedPackage`
/// stream holds the encrypted ZIP.
///
/// Only the directory is read: the header, the FAT sectors the directory chain passes
/// through, and at most `maxDirectorySectors` directory sectors, each read bounded and
/// checked against the file's size, so a hostile file costs a few KiB of reads.
package enum CompoundFile {
    package static let magic: [UInt8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]
    package static let maxDirectorySectors = 64
    /// Sector numbers at and above this are markers (end of chain, free, FAT, DIFAT).
    package static let maxRegularSector: UInt32 = 0xFFFF_FFFA

    /// The names of the entries in the directory (storages and streams), or nil when the
    /// file is not a readable compound file.
    package static func entryNames(_ file: any RandomAccessBytes) throws -> [String]? {
        let header = try file.read(at: 0, count: 512)
        guard header.count == 512, Array(header[0..<8]) == magic else { return nil }
        let shift = Int(le16(header, 0x1E))
        guard shift == 9 || shift == 12 else { return nil }
        let sectorSize = 1 << shift
        // The first 109 FAT sector numbers live in the header (DIFAT); enough for files up
        // to ~7 MB (512-byte sectors) or ~460 MB (4096); past them the chain is not followed.
        let fatSectors = (0..<109).map { le32(header, 0x4C + 4 * $0) }
        var names: [String] = []
        var sector = le32(header, 0x30)
        var visited = 0
        var fatCache: [UInt32: [UInt8]] = [:]
        while sector < maxRegularSector && visited < maxDirectorySectors {
            visited += 1
            let offset = (Int64(sector) + 1) << Int64(shift)
            guard offset + Int64(sectorSize) <= file.size else { break }
            let bytes = try file.read(at: offset, count: sectorSize)
            guard bytes.count == sectorSize else { break }
            for entry in stride(from: 0, to: sectorSize, by: 128) {
                let length = Int(le16(bytes, entry + 0x40))
                let type = bytes[entry + 0x42]
                guard type != 0, length >= 2, length <= 64, length % 2 == 0 else { continue }
                let units = (0..<(length / 2 - 1)).map { le16(bytes, entry + 2 * $0) }
                names.append(String(decoding: units, as: UTF16.self))
            }
            // The next directory sector: entry `sector` of the FAT.
            let perFATSector = UInt32(sectorSize / 4)
            let index = Int(sector / perFATSector)
            guard index < fatSectors.count, fatSectors[index] < maxRegularSector else { break }
            let fatSector = fatSectors[index]
            if fatCache[fatSector] == nil {
                let fatOffset = (Int64(fatSector) + 1) << Int64(shift)
                guard fatOffset + Int64(sectorSize) <= file.size else { break }
                fatCache[fatSector] = try file.read(at: fatOffset, count: sectorSize)
            }
            guard let fat = fatCache[fatSector], fat.count == sectorSize else { break }
            sector = le32(fat, 4 * Int(sector % perFATSector))
        }
        return names
    }

    /// What a compound file holds, by the streams its format names.
    package static func mediaType(_ names: [String]) -> String {
        let set = Set(names)
        if set.contains("EncryptedPackage") && set.contains("EncryptionInfo") { return TypeDetector.protectedOOXML }
        if set.contains("WordDocument") { return "application/msword" }
        if set.contains("PowerPoint Document") { return "application/vnd.ms-powerpoint" }
        if set.contains("Workbook") || set.contains("Book") { return "application/vnd.ms-excel" }
        return "application/x-ole-storage"
    }
}
