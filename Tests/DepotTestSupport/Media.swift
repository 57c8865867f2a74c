import Foundation

/// Debian's ffmpeg (the Makefile's test-deps), which tests use to make their media; depot
/// itself never runs it.
public let ffmpegPath = "/usr/bin/ffmpeg"

/// Runs Debian's ffmpeg with `arguments` (after `-hide_banner -loglevel error -nostdin -y`)
/// and returns its stdout; throws with its stderr when it fails.
@discardableResult
public func ffmpeg(_ arguments: [String]) throws -> Data {
    try runTool(ffmpegPath, ["-hide_banner", "-loglevel", "error", "-nostdin", "-y"] + arguments)
}

/// Runs Debian's ffprobe with `arguments` and returns its stdout.
public func ffprobe(_ arguments: [String]) throws -> Data {
    try runTool("/usr/bin/ffprobe", ["-hide_banner", "-loglevel", "error"] + arguments)
}

/// Makes `path` with ffmpeg's lavfi sources: `inputs` are filter graphs ("testsrc2=s=320x240:d=2"),
/// `output` the encoding options.
public func makeMedia(_ path: String, inputs: [String], output: [String]) throws {
    try ffmpeg(inputs.flatMap { ["-f", "lavfi", "-i", $0] } + output + [path])
}

func runTool(_ tool: String, _ arguments: [String]) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Stderr is read on its own thread so that a chatty tool never blocks on a full pipe.
    let errors = LockedData()
    let reader = Thread { errors.set(err.fileHandleForReading.readDataToEndOfFile()) }
    reader.start()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errors.done { usleep(1000) }
    guard process.terminationStatus == 0 else {
        throw TestFailure("\(tool) \(arguments.joined(separator: " ")) failed: \(String(decoding: errors.data, as: UTF8.self))")
    }
    return data
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var value = Data()
    private var finished = false
    func set(_ data: Data) { lock.withLock { value = data; finished = true } }
    var done: Bool { lock.withLock { finished } }
    var data: Data { lock.withLock { value } }
}
