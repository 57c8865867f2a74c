#ifndef CXML2_SHIM_H
#define CXML2_SHIM_H
/* libxml2: the streaming reader (xmlTextReader), for the XML parts of OOXML packages; the HTML
   parser, for HTML a Word document imports (altChunk). */
/* Debian builds libxml2 with ICU, and encoding.h then includes ICU's headers, which clash
   with the ICU copy inside Swift's Foundation ("UErrorCode has different definitions").
   Nothing here touches the ICU-only fields (the tail of xmlCharEncodingHandler, never
   allocated or read from Swift), so the module is imported without them. */
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/xmlreader.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <libxml/HTMLparser.h>

/* xmlFree is a global function-pointer variable (a macro in threaded builds): call it here. */
static inline void cxml2_free(void *pointer) { xmlFree(pointer); }

/* An external entity loader that refuses everything: no file, no network, whatever the
   parse options say (XXE). Installed process-wide by the reader before its first parse. */
static xmlParserInputPtr cxml2_refuse_loader(const char *url, const char *id, xmlParserCtxtPtr context) {
    (void)url; (void)id; (void)context;
    return NULL;
}
static inline void cxml2_refuse_external_entities(void) { xmlSetExternalEntityLoader(cxml2_refuse_loader); }
#endif
