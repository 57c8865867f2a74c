import CPoppler

/// A gchar* that the caller owns, as a String (freed).
func takeGString(_ value: UnsafeMutablePointer<gchar>?) -> String? {
    guard let value else { return nil }
    defer { g_free(value) }
    return String(cString: value)
}

/// A GLib list of poppler mappings (`PopplerAnnotMapping`, `PopplerFormFieldMapping`: an
/// object and where it sits on the page) that the caller owns; freed in deinit with the
/// function poppler names for that kind of list.
final class PopplerMappingList<Mapping> {
    private let list: UnsafeMutablePointer<GList>?
    private let free: (UnsafeMutablePointer<GList>) -> Void

    init(_ list: UnsafeMutablePointer<GList>?, free: @escaping (UnsafeMutablePointer<GList>) -> Void) {
        self.list = list
        self.free = free
    }

    deinit { if let list { free(list) } }

    /// Calls `body` with each mapping, in the list's order.
    func forEach(_ body: (Mapping) -> Void) {
        var node = list
        while let current = node {
            node = current.pointee.next
            if let element = current.pointee.data?.assumingMemoryBound(to: Mapping.self) { body(element.pointee) }
        }
    }
}
