// See include/cpopplercore.h. Thin: each call is a few of poppler's own.
#include "cpopplercore.h"

#include <GlobalParams.h>
#include <PDFDoc.h>
#include <Page.h>
#include <TextOutputDev.h>
#include <goo/GooString.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

struct cpopplercore_document {
    std::unique_ptr<PDFDoc> doc;
};

// poppler-glib sets poppler's global parameters when it opens its first document; a
// document opened here first sets them the same way (poppler-data's CMaps are found there).
static void ensureGlobalParams() {
    if (!globalParams) globalParams = std::make_unique<GlobalParams>();
}

static Page *pageAt(cpopplercore_document *document, int index) {
    if (document == nullptr || index < 0 || index >= document->doc->getNumPages()) return nullptr;
    return document->doc->getPage(index + 1);
}

extern "C" cpopplercore_document *cpopplercore_document_open(const char *path) {
    try {
        ensureGlobalParams();
        auto doc = std::make_unique<PDFDoc>(std::make_unique<GooString>(path));
        if (!doc->isOk()) return nullptr;
        return new cpopplercore_document{std::move(doc)};
    } catch (...) {
        return nullptr;
    }
}

extern "C" void cpopplercore_document_free(cpopplercore_document *document) { delete document; }

extern "C" int cpopplercore_page_is_cropped(cpopplercore_document *document, int index) {
    Page *page = pageAt(document, index);
    if (page == nullptr) return -1;
    const PDFRectangle *media = page->getMediaBox(), *crop = page->getCropBox();
    const double slack = 0.5;
    return crop->x1 > media->x1 + slack || crop->y1 > media->y1 + slack || crop->x2 < media->x2 - slack
            || crop->y2 < media->y2 - slack;
}

static void appendText(void *stream, const char *text, int length) {
    static_cast<std::string *>(stream)->append(text, static_cast<size_t>(length));
}

extern "C" char *cpopplercore_page_media_box_text(cpopplercore_document *document, int index) {
    try {
        if (pageAt(document, index) == nullptr) return nullptr;
        std::string text;
        // pdftotext's device and settings: reading order, not physical layout nor raw order.
        TextOutputDev device(appendText, &text, false, 0, false, false);
        if (!device.isOk()) return nullptr;
        device.setTextPageBreaks(false);
        // 72 dpi, no turn beyond the page's own, the media box, no crop, not printing.
        document->doc->displayPage(&device, index + 1, 72, 72, 0, true, false, false);
        char *out = static_cast<char *>(std::malloc(text.size() + 1));
        if (out == nullptr) return nullptr;
        std::memcpy(out, text.data(), text.size());
        out[text.size()] = '\0';
        return out;
    } catch (...) {
        return nullptr;
    }
}
