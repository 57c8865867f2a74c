#ifndef CPOPPLER_SHIM_H
#define CPOPPLER_SHIM_H
/* poppler-glib (PDF) and cairo (its renderer, also used to write PNG thumbnails). */
#include <poppler.h>
#include <cairo.h>
#include <cairo-pdf.h>

/* POPPLER_ERROR is a macro over a GQuark function: Swift cannot import it. */
static inline gboolean cpoppler_error_is(const GError *error, PopplerError code) {
    return error != NULL && error->domain == POPPLER_ERROR && error->code == (gint)code;
}

/* g_object_unref takes a gpointer; these keep the GObject casts (G_OBJECT) in C. */
static inline void cpoppler_document_unref(PopplerDocument *document) { g_object_unref(G_OBJECT(document)); }
static inline void cpoppler_page_unref(PopplerPage *page) { g_object_unref(G_OBJECT(page)); }
static inline void cpoppler_attachment_unref(PopplerAttachment *attachment) { g_object_unref(G_OBJECT(attachment)); }
static inline void cpoppler_structure_element_unref(PopplerStructureElement *element) { g_object_unref(G_OBJECT(element)); }
/* poppler_document_get_attachments' list: each attachment unreferenced, then the list freed. */
static inline void cpoppler_attachment_list_free(GList *list) {
    g_list_free_full(list, (GDestroyNotify)g_object_unref);
}
#endif
