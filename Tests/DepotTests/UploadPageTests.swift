import DepotCore
import DepotTestSupport
import Foundation
import Testing

/// The upload page in a real browser: Debian's chromium, driven by Selenium through
/// chromedriver, picking a real file.
@Suite(.tags(.slow), .slowTest) struct UploadPageTests {
    static let script = """
        import sys, time, tempfile
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        url, path, log, throttle = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
        how = sys.argv[5] if len(sys.argv) > 5 else "pick"
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--user-data-dir=" + tempfile.mkdtemp()]:
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        try:
            driver.get(url)
            if throttle:
                driver.set_network_conditions(offline=False, latency=5, download_throughput=10 * 1024 * 1024,
                                              upload_throughput=throttle)
            if how == "pick":
                driver.find_element(By.ID, "files").send_keys(path)
            else:
                # A drop: the file is read from disk through an input of the test's own, then
                # handed to the drop zone in a DataTransfer, as the browser does for a drag.
                driver.execute_script("const i = document.createElement('input'); i.type = 'file'; i.id = 'dropsource';"
                                      "i.style.display = 'block'; document.body.append(i);")
                driver.find_element(By.ID, "dropsource").send_keys(path)
                driver.execute_script("const dt = new DataTransfer(); dt.items.add(document.getElementById('dropsource').files[0]);"
                                      "document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));")
            states = []
            deadline = time.time() + 120
            while time.time() < deadline:
                items = driver.find_elements(By.CSS_SELECTOR, "#list li")
                state = items[0].get_attribute("data-state") if items else None
                text = items[0].find_element(By.CLASS_NAME, "status").text if items else ""
                if state and (not states or states[-1] != state):
                    states.append(state)
                    with open(log, "a") as f:
                        f.write(state + " " + text + "\\n")
                if state in ("stored", "failed"):
                    break
                time.sleep(0.1)
            print(" ".join(states))
            print(driver.find_element(By.CSS_SELECTOR, "#list li .status").text)
        finally:
            driver.quit()
        """

    /// A file dropped on the page's drop zone goes the same way.
    @Test func aFileDroppedOnThePageIsStored() throws {
        let u = try UploadRoot()
        let (url, _) = try u.uploadLink(["documents/dropped"])
        let bytes = noise(3 << 20, seed: 22)
        let dir = NSTemporaryDirectory() + "depot-drop-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/Übung 2.bin"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        try Data(Self.script.utf8).write(to: URL(fileURLWithPath: dir + "/drive.py"))
        let r = try runBlocking("/usr/bin/python3", [dir + "/drive.py", url, file, dir + "/states", "0", "drop"])
        #expect(r.status == 0 && r.stdout.contains("stored"), "\(r.output)")
        #expect(try u.versions("documents/dropped/Übung 2.bin").first?["sha256"] as? String == sha256(bytes))
    }

    /// A person opens the link, picks a file, and it arrives whole — also when the daemon is
    /// killed halfway and comes back: the page retries, asks the server where it stands,
    /// and resumes.
    @Test func aFilePickedOnThePageArrivesWholeAcrossADaemonRestart() throws {
        let u = try UploadRoot()
        let token = try u.adminToken()
        let (url, _) = try u.uploadLink(["documents/from-browser"])
        let bytes = noise(12 << 20, seed: 21)
        let dir = NSTemporaryDirectory() + "depot-page-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/Lecture 3 (draft).bin"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        try Data(Self.script.utf8).write(to: URL(fileURLWithPath: dir + "/drive.py"))

        let browser = Process()
        browser.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        // About 4 MiB/s: the first 8 MiB piece takes two seconds, the rest is under way when
        // the daemon dies.
        browser.arguments = [dir + "/drive.py", url, file, dir + "/states", String(4 << 20)]
        let out = Pipe(), err = Pipe()
        browser.standardOutput = out
        browser.standardError = err
        try browser.run()
        defer { if browser.isRunning { kill(browser.processIdentifier, SIGKILL) } }

        // Once the first piece is durable, kill -9 the daemon mid-piece and start it again.
        func offset() -> Int {
            guard let r = try? http("GET", u.base + "/api/v1/uploads", headers: ["Authorization": "Bearer \(token)"]),
                  let object = try? parseJSON(r.body) as? [String: Any], let items = object["items"] as? [[String: Any]],
                  let first = items.first else { return -1 }
            return first["offset"] as? Int ?? -1
        }
        #expect(waitUntil(seconds: 60) { offset() >= 8 << 20 }, "\(u.server.stderr)")
        u.server.signal(SIGKILL)
        _ = u.server.wait()
        Thread.sleep(forTimeInterval: 1)
        try u.start()

        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        browser.waitUntilExit()
        let said = String(decoding: stdout, as: UTF8.self)
        let states = (try? String(contentsOfFile: dir + "/states", encoding: .utf8)) ?? ""
        #expect(browser.terminationStatus == 0, "\(said) \(String(decoding: stderr, as: UTF8.self))")
        #expect(said.hasPrefix("uploading") && said.contains("retrying") && said.contains("stored"), "\(said)\n\(states)")
        let versions = try u.versions("documents/from-browser/Lecture 3 (draft).bin")
        #expect(versions.first?["sha256"] as? String == sha256(bytes) && versions.first?["origin"] as? String == "upload",
                "\(versions) \(u.server.stderr)")
        #expect(u.partialFiles.isEmpty)
    }
}
