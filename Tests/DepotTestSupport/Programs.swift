import Foundation

/// The repository root, from this file's path (Tests/DepotTestSupport/Programs.swift).
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// Debian's python3, with what the Makefile's test-deps install for it (python3-jsonschema,
/// msoffcrypto-tool), whatever python3 comes first on PATH (a user's pyenv lacks them).
public let debianPython = "/usr/bin/python3"

/// Runs a python3 snippet with `argv[1...]` and returns its stdout; throws with its stderr
/// when it fails.
@discardableResult
public func python(_ script: String, _ arguments: [String] = []) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: debianPython)
    process.arguments = ["-c", script] + arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errors = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw TestFailure("python3 failed: \(String(decoding: errors, as: UTF8.self))")
    }
    return String(decoding: data, as: UTF8.self)
}

/// docs/schemas/`name`.
public func schemaPath(_ name: String) -> String {
    repositoryRoot + "/docs/schemas/" + name
}

/// Checks the schema at `schema` with python3-jsonschema (Draft 2020-12: the schema
/// itself, then each document) and returns, per document, nil when it is valid or the
/// validator's first message.
public func validate(_ documents: [String], against schema: String) throws -> [String?] {
    let output = try python("""
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1]))
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        for path in sys.argv[2:]:
            errors = sorted(validator.iter_errors(json.load(open(path))), key=lambda e: list(e.absolute_path))
            print(json.dumps(errors[0].message if errors else None))
        """, [schema] + documents)
    let results = try output.split(separator: "\n").map { line in
        try JSONDecoder().decode(String?.self, from: Data(line.utf8))
    }
    guard results.count == documents.count else { throw TestFailure("the validator answered \(results.count) of \(documents.count)") }
    return results
}

/// A test's own failure, with what went wrong.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Writes a password-protected DOCX, encrypted with msoffcrypto-tool (PyPI) as Office does:
/// the OOXML package inside a compound file's EncryptedPackage stream.
public func makeProtectedOffice(_ path: String) throws {
    try python("""
        import io, sys, zipfile
        from msoffcrypto.format.ooxml import OOXMLFile
        package = io.BytesIO()
        with zipfile.ZipFile(package, 'w') as z:
            z.writestr('[Content_Types].xml', '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
            z.writestr('word/document.xml', '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>secret</w:t></w:r></w:p></w:body></w:document>')
            z.writestr('word/filler.bin', bytes(range(256)) * 64)
        package.seek(0)
        with open(sys.argv[1], 'wb') as out:
            OOXMLFile(package).encrypt('password', out)
        """, [path])
}
