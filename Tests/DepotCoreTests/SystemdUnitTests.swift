import DepotTestSupport
import Testing
@testable import DepotCore
#if canImport(Glibc)
import Glibc
#endif

/// Runs a shell command and returns its exit status and combined output.
func runShell(_ command: String) -> (status: Int32, output: String) {
    guard let pipe = popen(command + " 2>&1", "r") else { return (-1, "popen failed") }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buffer, 1, buffer.count, pipe)
        if n == 0 { break }
        output += buffer[0..<n]
    }
    let status = pclose(pipe)
    return ((status >> 8) & 0xFF, String(decoding: output, as: UTF8.self))
}

@Suite struct SystemdUnitTests {
    /// DESIGN.md: the unit is hardened so that `systemd-analyze security` rates it OK (exposure < 5.0).
    /// systemd-analyze comes from Debian's `systemd` package, which `make test` installs.
    @Test func serviceExposureIsOkOrBetter() throws {
        let unit = repositoryRoot + "/systemd/depot.service"
        let result = runShell("systemd-analyze security --offline=yes '\(unit)'")
        let line = try #require(result.output.split(separator: "\n").first { $0.contains("Overall exposure level for depot.service:") },
                                "no rating in output (status \(result.status)): \(result.output)")
        // "→ Overall exposure level for depot.service: 1.4 OK 🙂"
        let afterColon = line[line.range(of: "depot.service:")!.upperBound...]
        let words = afterColon.split(separator: " ")
        let exposure = try #require(words.first.flatMap { Double($0) }, "cannot read a number in: \(line)")
        #expect(exposure < 5.0, "exposure \(exposure): \(line)")
        #expect(words.count > 1 && ["OK", "SAFE"].contains(String(words[1])), "\(line)")
    }

    @Test func serviceDeclaresTheNotifyContract() throws {
        let text = try readTextFile(repositoryRoot + "/systemd/depot.service")
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in ["Type=notify", "NotifyAccess=main", "WatchdogSec=30s", "Restart=on-failure",
                         "ExecStart=/usr/local/bin/depot serve --config /etc/depot/depot.toml",
                         "ExecReload=/bin/kill -HUP $MAINPID", "User=depot", "Group=depot"] {
            #expect(lines.contains(expected), "missing \(expected)")
        }
    }
}
