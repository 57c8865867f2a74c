import DepotProcess
import DepotTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// CJK text through predefined CMaps needs Debian's poppler-data (/usr/share/poppler). These
/// run `depot extract` in a mount namespace of its own (unshare: root only) so that what it
/// sees of the filesystem can be changed without touching the machine's.
@Suite("poppler-data", .tags(.slow), .slowTest, .enabled(if: getuid() == 0, "needs root for a mount namespace"))
struct PopplerDataTests {
    /// Runs `script` with sh in a private mount namespace; `$DEPOT` and `$DIR` are set.
    private func inNamespace(_ script: String, dir: String) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["--mount", "--propagation", "private", "/bin/sh", "-c", "set -e\n" + script]
        process.environment = ["DEPOT": depotBinary, "DIR": dir, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stderr)
    }

    @Test func withoutPopplerDataTheCJKTextIsLost() throws {
        // The fixture's text depends on poppler-data: hidden behind an empty folder, it is gone
        // (so cjkTextThroughPredefinedCMapsComesOut, in PDFContentTests, tests what it says).
        let dir = try TempDir()
        try makeCJKPDF(dir.path + "/cjk.pdf")
        let run = try inNamespace("""
            mount -t tmpfs -o ro none /usr/share/poppler
            "$DEPOT" extract "$DIR/cjk.pdf" --out "$DIR/bare" --kind extract
            """, dir: dir.path)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try !dir.read("bare/text.txt").contains("日本語"))
    }

    @Test func theServicesSandboxLeavesPopplerDataReadable() throws {
        // What systemd/depot.service does to the filesystem, as its worker sees it: every mount
        // read-only but the one it writes to (ProtectSystem=strict, ReadWritePaths), empty
        // home folders (ProtectHome=yes), and an unprivileged user (User=depot; nobody here).
        let dir = try TempDir()
        try makeCJKPDF(dir.path + "/cjk.pdf")
        try FileManager.default.createDirectory(atPath: dir.path + "/srv", withIntermediateDirectories: true)
        chmod(dir.path, 0o755)
        chmod(dir.path + "/cjk.pdf", 0o644)
        chmod(dir.path + "/srv", 0o777)
        let unit = try String(contentsOfFile: repositoryRoot + "/systemd/depot.service", encoding: .utf8)
        for setting in ["ProtectSystem=strict", "ProtectHome=yes", "User=depot"] { #expect(unit.contains(setting)) }
        // Nothing in the unit hides /usr/share from the service.
        #expect(!unit.contains("InaccessiblePaths") && !unit.contains("TemporaryFileSystem"))
        let run = try inNamespace("""
            DIR=$(realpath "$DIR")
            mount --bind "$DIR/srv" "$DIR/srv"
            awk '{print $2}' /proc/self/mounts | while read -r m; do
              [ "$m" = "$DIR/srv" ] || mount -o remount,bind,ro "$m" 2>/dev/null || true
            done
            for home in /home /root /run/user; do [ -d "$home" ] && mount -t tmpfs -o ro,mode=0755 none "$home"; done
            ! touch /usr/share/poppler/.writable 2>/dev/null
            exec setpriv --reuid=nobody --regid=nogroup --clear-groups "$DEPOT" extract "$DIR/cjk.pdf" --out "$DIR/srv/out" --kind extract
            """, dir: dir.path)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try dir.read("srv/out/text.txt").contains("日本語"))
    }
}
