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
    let result = try runBlocking(tool, arguments)
    guard result.status == 0 else {
        throw TestFailure("\(tool) \(arguments.joined(separator: " ")) failed: \(result.stderr)")
    }
    return result.stdoutData
}
