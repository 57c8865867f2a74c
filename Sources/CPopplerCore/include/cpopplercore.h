#ifndef CPOPPLERCORE_H
#define CPOPPLERCORE_H
/* poppler's core (libpoppler, the library under poppler-glib), for the one thing poppler-glib
   cannot do: read a page's text over its media box. poppler-glib builds every text page,
   drawing and bounding box inside the crop box (poppler-page.cc passes Crop = true, and its
   cairo device always clips to it), so text a crop box leaves out — and all of a page whose
   crop box misses its media box — never reaches it; `pdftotext` reads the media box.
   C calls over a few C++ ones, nothing else; strings are UTF-8, malloc'd, the caller's. */
#ifdef __cplusplus
extern "C" {
#endif

typedef struct cpopplercore_document cpopplercore_document;

/* The PDF at `path` (no password), or NULL when poppler cannot open it. */
cpopplercore_document *cpopplercore_document_open(const char *path);
void cpopplercore_document_free(cpopplercore_document *document);

/* 1 when the crop box of the page at 0-based `index` leaves out part of its media box (by more
   than half a point on a side), 0 when it does not, -1 when there is no such page. */
int cpopplercore_page_is_cropped(cpopplercore_document *document, int index);

/* The text of the page at 0-based `index` over its media box, annotations drawn in, in
   reading order as `pdftotext` writes it (no page break at its end); NULL when the page
   cannot be read. */
char *cpopplercore_page_media_box_text(cpopplercore_document *document, int index);

#ifdef __cplusplus
}
#endif
#endif
