// DepotProcess: type detection from the bytes and the processors, one file each.
