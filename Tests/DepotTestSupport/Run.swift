import Foundation

/// What a program did: its exit status and what it wrote.
public struct RunResult {
    public var status: Int32
    public var stdoutData: Data
    public var stderr: String
    public var stdout: String { String(decoding: stdoutData, as: UTF8.self) }
    public var output: String { stdout + stderr }
}

/// Runs a program to completion, blocking the calling thread; stdin gets `input` (nothing
/// when nil), `environment` replaces the test's own when given. Both pipes are read and the
/// input written while it runs, so a chatty child never blocks on a full pipe.
public func runBlocking(_ path: String, _ arguments: [String], input: Data? = nil,
                        environment: [String: String]? = nil) throws -> RunResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe(), stdin = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input == nil ? FileHandle.nullDevice : stdin
    try process.run()
    if let input {
        Thread {
            stdin.fileHandleForWriting.write(input)
            try? stdin.fileHandleForWriting.close()
        }.start()
    }
    let errData = Locked(Data())
    let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errData.isSet { usleep(1000) }
    return RunResult(status: process.terminationStatus, stdoutData: outData,
                     stderr: String(decoding: errData.value, as: UTF8.self))
}

/// A value set once by another thread.
public final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    private var wasSet = false
    public init(_ value: T) { stored = value }
    public func set(_ value: T) { lock.withLock { stored = value; wasSet = true } }
    public var value: T { lock.withLock { stored } }
    public var isSet: Bool { lock.withLock { wasSet } }
}
