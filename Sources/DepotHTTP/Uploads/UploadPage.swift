import DepotCore
import DepotStore
import Foundation
import HTTPTypes
import Hummingbird

extension Handlers {
    /// GET /u/ID?…: the page a person opens from an upload link — pick or drop files, watch
    /// them go, resume after a dropped connection (the browser remembers each file's upload).
    func uploadPage(_ request: Request, context: DepotRequestContext) async throws -> Response {
        let (link, query) = try await uploadLink(request, context: context)
        let place = link.folder.isEmpty ? link.collection : link.collection + "/" + link.folder
        var limits = ["files up to \(describeBytes(link.maxSize))"]
        if let most = link.maxFiles { limits.append("at most \(most) file\(most == 1 ? "" : "s")") }
        if !link.types.isEmpty { limits.append("only " + link.types.joined(separator: ", ")) }
        limits.append("until \(Timestamp(seconds: link.expires).description)")
        let html = """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="referrer" content="no-referrer">
            <title>Upload to \(htmlEscape(place))</title>
            <style>
            body { font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
            #drop { border: 2px dashed #888; border-radius: 8px; padding: 2rem; text-align: center; }
            #drop.over { background: #eef; border-color: #44a; }
            li { margin: .5rem 0; list-style: none; }
            progress { width: 100%; }
            .failed { color: #a00; } .stored { color: #060; }
            </style>
            </head>
            <body>
            <main id="depot-upload" data-endpoint="\(htmlEscape("/u/\(link.id)/files" + query))"
                  data-max-size="\(link.maxSize)">
            <h1>Upload to \(htmlEscape(place))</h1>
            <p>\(htmlEscape(limits.joined(separator: " · ")))</p>
            <div id="drop">
            <p>Drop files here, or</p>
            <input id="files" type="file" multiple>
            </div>
            <ul id="list"></ul>
            </main>
            <script src="/assets/upload.js"></script>
            </body>
            </html>
            """
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // The URL carries the link's signature: it must not leak to anyone else.
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }
}

/// The upload page's script: a small tus 1.0 client (creation, PATCH in 8 MiB pieces with
/// progress, resume from the server's offset after any failure, retried with backoff).
let uploadPageScript = #"""
"use strict";
(function () {
  const root = document.getElementById("depot-upload");
  const endpoint = root.dataset.endpoint;
  const mark = endpoint.indexOf("?");
  const query = mark < 0 ? "" : endpoint.slice(mark);
  const maxSize = Number(root.dataset.maxSize);
  const piece = 8 * 1024 * 1024;
  const list = document.getElementById("list");
  const drop = document.getElementById("drop");
  const input = document.getElementById("files");

  function b64(text) {
    const bytes = new TextEncoder().encode(text);
    let s = "";
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s);
  }

  function request(method, url, headers, body, onProgress) {
    return new Promise(function (resolve, reject) {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("Tus-Resumable", "1.0.0");
      for (const name in headers) xhr.setRequestHeader(name, headers[name]);
      if (onProgress) xhr.upload.onprogress = function (e) { onProgress(e.loaded); };
      xhr.onload = function () { resolve(xhr); };
      xhr.onerror = function () { reject(new Error("the connection was lost")); };
      xhr.ontimeout = xhr.onerror;
      xhr.send(body === undefined ? null : body);
    });
  }

  function message(xhr) {
    try { return JSON.parse(xhr.responseText).message; } catch (e) { return "HTTP " + xhr.status; }
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function row(file) {
    const li = document.createElement("li");
    const name = document.createElement("div");
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = Math.max(file.size, 1);
    bar.value = 0;
    const status = document.createElement("div");
    status.className = "status";
    li.append(name, bar, status);
    list.append(li);
    return {
      li: li,
      progress: function (n) { bar.value = n; status.textContent = Math.floor(100 * n / Math.max(file.size, 1)) + "%"; },
      say: function (state, text) { li.dataset.state = state; status.className = "status " + state; status.textContent = text; },
    };
  }

  async function offsetOf(url) {
    const xhr = await request("HEAD", url, {});
    if (xhr.status === 200) return Number(xhr.getResponseHeader("Upload-Offset"));
    return null;
  }

  async function send(file) {
    const ui = row(file);
    if (file.size > maxSize) { ui.say("failed", "too large for this link"); return; }
    const key = "depot-upload " + endpoint + " " + file.name + " " + file.size + " " + file.lastModified;
    let url = localStorage.getItem(key);
    let offset = null;
    let wait = 1000;
    ui.say("uploading", "starting");
    for (;;) {
      try {
        if (url && offset === null) {
          offset = await offsetOf(url);
          if (offset === null) { localStorage.removeItem(key); url = null; }
        }
        if (!url) {
          const meta = "filename " + b64(file.name) + (file.type ? ",filetype " + b64(file.type) : "");
          const xhr = await request("POST", endpoint, { "Upload-Length": String(file.size), "Upload-Metadata": meta });
          if (xhr.status !== 201) { ui.say("failed", message(xhr)); return; }
          url = xhr.getResponseHeader("Location");
          offset = 0;
          localStorage.setItem(key, url);
        }
        ui.progress(offset);
        if (offset === file.size && file.size > 0) {
          // Every byte arrived but the last answer was lost: send none, which stores it.
          const xhr = await request("PATCH", url, { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" }, new Blob([]));
          if (xhr.status === 204) { localStorage.removeItem(key); ui.say("stored", "stored"); return; }
          if (xhr.status === 409 && /complete/.test(message(xhr))) { localStorage.removeItem(key); ui.say("stored", "stored"); return; }
        }
        do {
          const start = offset;
          const blob = file.slice(start, start + piece);
          const xhr = await request("PATCH", url, { "Upload-Offset": String(start), "Content-Type": "application/offset+octet-stream" },
                                    blob, function (n) { ui.progress(start + n); });
          if (xhr.status === 204) {
            offset = Number(xhr.getResponseHeader("Upload-Offset"));
            wait = 1000;
            ui.progress(offset);
          } else if (xhr.status === 409 || xhr.status >= 500 || xhr.status === 429 || xhr.status === 460) {
            const text = message(xhr);
            if (xhr.status === 409 && /complete/.test(text)) break;
            ui.say("retrying", text + "; trying again");
            await sleep(wait);
            wait = Math.min(wait * 2, 30000);
            offset = await offsetOf(url);
            if (offset === null) { ui.say("failed", "the upload was lost; add the file again"); localStorage.removeItem(key); return; }
            if (xhr.status >= 500 && xhr.status !== 507 && offset === file.size) break;
          } else {
            ui.say("failed", message(xhr));
            localStorage.removeItem(key);
            return;
          }
        } while (offset < file.size || (file.size === 0 && offset === 0 && !ui.li.dataset.sent && (ui.li.dataset.sent = "1")));
        localStorage.removeItem(key);
        ui.say("stored", "stored");
        return;
      } catch (e) {
        ui.say("retrying", e.message + "; trying again in " + Math.round(wait / 1000) + " s");
        await sleep(wait);
        wait = Math.min(wait * 2, 30000);
        offset = null;
      }
    }
  }

  async function sendAll(files) {
    for (const file of files) await send(file);
  }

  input.addEventListener("change", function () { sendAll(Array.from(input.files)); input.value = ""; });
  drop.addEventListener("dragover", function (e) { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", function () { drop.classList.remove("over"); });
  drop.addEventListener("drop", function (e) {
    e.preventDefault();
    drop.classList.remove("over");
    sendAll(Array.from(e.dataTransfer.files));
  });
})();
"""#
